"""Phone numbers: E.164 parsing with phonenumbers, and masking for logs."""

from __future__ import annotations

import re

import phonenumbers


class InvalidPhoneNumber(ValueError):
    pass


# What a caller may write between the digits, and nothing else: phonenumbers reads far more
# (letters as keypad digits, full-width and Arabic-Indic digits, extensions, "tel:" URIs,
# trailing junk it drops), and every such reading could text someone the caller did not name.
SEPARATORS = " -.()"
_WRITTEN = re.compile(r"\+[0-9 .()\-]+")


def normalize_e164(value: str) -> str:
    """Return `value` as E.164, or raise InvalidPhoneNumber saying why.

    Only a `+`, the digits 0-9 and SEPARATORS are accepted, and the result has exactly the digits
    written: a number must never be sent anywhere but where the caller wrote it. Without a
    country code a national number is ambiguous, and guessing a region would text the wrong person.
    """
    candidate = value.strip(" ")
    if candidate[:4].lower() == "tel:":
        raise InvalidPhoneNumber(
            "must be the number itself in E.164 format (e.g. +12025550143), not a tel: URI"
        )
    if any(c.isalpha() for c in candidate):
        raise InvalidPhoneNumber(
            "must not contain letters: write the number in digits (vanity numbers and extensions "
            "are not accepted)"
        )
    if any(c.isnumeric() and not c.isascii() for c in candidate):
        raise InvalidPhoneNumber("must be written with the digits 0-9")
    if not candidate.startswith("+"):
        raise InvalidPhoneNumber("must be in E.164 format, with + and the country code (e.g. +12025550143)")
    if candidate.count("+") > 1:
        raise InvalidPhoneNumber("must have exactly one +, at the start")
    if not _WRITTEN.fullmatch(candidate):
        raise InvalidPhoneNumber("may contain only digits, spaces, dashes, dots and parentheses after the +")
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("is not a valid phone number for its country")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164[1:] != "".join(c for c in candidate if c.isdigit()):
        # phonenumbers drops a national (trunk) prefix written after the country code.
        raise InvalidPhoneNumber(
            "is not the number its digits say: leave out any national prefix after the country "
            "code (such as the (0) in +44 (0)20 7946 0958)"
        )
    return e164


def mask(number: str) -> str:
    """The country code and the last 2 digits, for logs: +1 202 555 0143 -> "+1*******43".

    Always 7 stars, so the length of the number is hidden too. Without a country code we can
    tell (junk, or a national number) only the last 2 digits are kept, and only of a long one.
    """
    digits = "".join(c for c in number if c.isascii() and c.isdigit())
    try:
        country = f"+{phonenumbers.parse('+' + digits, None).country_code}"
    except phonenumbers.NumberParseException:
        country = ""
    return f"{country}*******{digits[-2:] if len(digits) >= 6 else ''}"


# Where Sinch delivers MMS over the XMS API (https://developers.sinch.com/docs/sms/api-reference/mms-support).
MMS_REGIONS = {"US": "the United States", "CA": "Canada", "AU": "Australia", "PR": "Puerto Rico"}


def mms_unavailable_reason(e164: str) -> str | None:
    """Why an MMS cannot go to this number, or None when it can."""
    if region_of(e164) in MMS_REGIONS:
        return None
    offered = ", ".join(MMS_REGIONS.values())
    return f"MMS cannot be sent to {country_label(e164)}; Sinch offers MMS only in {offered}"


def region_of(e164: str) -> str | None:
    """The ISO 3166 region of a valid E.164 number ("US", "JM"), or None when it has none."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))


def country_label(e164: str) -> str:
    """The number's country for people to read: "Jamaica (JM)"."""
    region = region_of(e164)
    if region is None:
        return "its country"
    # Region names are a large table: loaded only on these (rare) refusal paths. The geocoder's
    # country_name_for_number gives "" for regions sharing a calling code (AU with CX and CC).
    from phonenumbers.geodata.locale import LOCALE_DATA

    names = LOCALE_DATA.get(region, {})
    name = names.get("en", "")
    if name.startswith("*"):  # "*aa": the name is held under that other language
        name = names.get(name[1:], "")
    return f"{name} ({region})" if name else region
