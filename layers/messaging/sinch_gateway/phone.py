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


# Where Sinch delivers MMS over the XMS API (sinch-api.md section 5).
MMS_REGIONS = {"US": "the United States", "CA": "Canada", "AU": "Australia", "PR": "Puerto Rico"}


def mms_unavailable_reason(e164: str) -> str | None:
    """Why an MMS cannot go to this number, or None when it can."""
    number = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(number)
    if region in MMS_REGIONS:
        return None
    # The geocoder's data is large: loaded only on this (rare) error path.
    from phonenumbers import geocoder

    country = geocoder.country_name_for_number(number, "en") or region or "its country"
    offered = ", ".join(MMS_REGIONS.values())
    return f"MMS cannot be sent to {country} ({region}); Sinch offers MMS only in {offered}"
