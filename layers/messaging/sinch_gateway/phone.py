"""Phone numbers: E.164 parsing with phonenumbers, and masking for logs."""

from __future__ import annotations

import phonenumbers


class InvalidPhoneNumber(ValueError):
    pass


def normalize_e164(value: str) -> str:
    """Return `value` as E.164, or raise InvalidPhoneNumber saying why.

    Only numbers written with a leading `+` are accepted: without a country code a national
    number is ambiguous, and guessing a region would text the wrong person.
    """
    candidate = value.strip()
    if not candidate.startswith("+"):
        raise InvalidPhoneNumber("must be in E.164 format, with + and the country code (e.g. +12025550143)")
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("is not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(number: str) -> str:
    """Keep the country code and area for debugging; hide the subscriber part."""
    return number[:-4] + "****" if len(number) > 6 else "****"
