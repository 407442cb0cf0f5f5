import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.phone import InvalidPhoneNumber, mask, normalize_e164


@pytest.mark.parametrize(
    ("given_number", "expected"),
    [
        ("+12025550143", "+12025550143"),
        ("+1 202-555-0143", "+12025550143"),
        ("+1 (202) 555 0143", "+12025550143"),
        ("  +61 491 570 156 ", "+61491570156"),
    ],
)
def test_formats_with_a_country_code_are_normalised(given_number: str, expected: str) -> None:
    assert normalize_e164(given_number) == expected


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("2025550143", "E.164"),  # national format: which country?
        ("0491 570 156", "E.164"),
        ("+15551234567", "not a valid"),  # 555 is not an area code
        ("+1202555", "not a valid"),
        ("+44abc", "not a phone number"),
        ("", "E.164"),
    ],
)
def test_ambiguous_or_invalid_numbers_are_refused_with_a_reason(bad: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason):
        normalize_e164(bad)


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@given(st.sampled_from(REGIONS))
def test_every_regions_example_mobile_round_trips(region: str) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return
    international = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    e164 = normalize_e164(international)
    assert e164 == phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_e164(e164) == e164


@given(st.text(max_size=30))
def test_arbitrary_text_is_normalised_or_refused_never_crashes(text: str) -> None:
    try:
        result = normalize_e164(text)
    except InvalidPhoneNumber:
        return
    assert result.startswith("+")
    assert result[1:].isdigit()


def test_mask_hides_the_subscriber_digits() -> None:
    assert mask("+12025550143") == "+1202555****"
    assert "0143" not in mask("+12025550143")
