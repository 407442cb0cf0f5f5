import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sinch_gateway.domain.phone import InvalidPhoneNumber, mask, normalize_e164


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
        ("+44abc", "letters"),
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


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        # phonenumbers reads letters as keypad digits: a typo would text +12025552223
        ("+1202555abcd", "letters"),
        ("+1-800-FLOWERS", "letters"),
        # extensions, which phonenumbers drops (the message would go to the switchboard)
        ("+12025550143 x12", "letters"),
        ("+12025550143 ext. 5", "letters"),
        ("+12025550143;ext=5", "letters"),
        ("+12025550143;phone-context=+1", "letters"),
        ("tel:+12025550143", "tel: URI"),
        # digits that are not 0-9, which phonenumbers maps to 0-9
        ("+\uff11\uff12\uff10\uff12\uff15\uff15\uff15\uff10\uff11\uff14\uff13", "digits 0-9"),
        ("+\u0661\u0662\u0660\u0662\u0665\u0665\u0665\u0660\u0661\u0664\u0663", "digits 0-9"),
        ("+\u06f1\u06f2\u06f0\u06f2\u06f5\u06f5\u06f5\u06f0\u06f1\u06f4\u06f3", "digits 0-9"),
        ("+1202555014\u00b3", "digits 0-9"),
        # junk phonenumbers strips silently
        ("+12025550143*", "only digits"),
        ("+12025550143#", "only digits"),
        ("+12025550143/", "only digits"),
        ("+1/202/555/0143", "only digits"),
        ("+1[202]5550143", "only digits"),
        ("+12025550143\x00", "only digits"),
        ("+12025550143\n", "only digits"),
        ("+12025550143\u200b", "only digits"),  # zero-width space
        ("+1\u2011202\u2011555\u20110143", "only digits"),  # non-breaking hyphens
        ("+1 202\u00a0555 0143", "only digits"),  # no-break space
        ("+1 202 555 0143 ;", "only digits"),
        ("+1 2025550143, 2025550144", "only digits"),
        # more than one number, or a plus phonenumbers skips
        ("++12025550143", "exactly one +"),
        ("+1-202-555-0143 +1-202-555-0144", "exactly one +"),
        ("\uff0b12025550143", "E.164"),  # a full-width plus
        # a national prefix after the country code, which phonenumbers drops
        ("+44 (0)20 7946 0958", "national prefix"),
        ("+61 0491 570 156", "national prefix"),
        ("+1 1 202 555 0143", "national prefix"),
        ("+" + "1" * 300, "not a phone number"),
    ],
)
def test_anything_that_could_be_read_as_another_number_is_refused(bad: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason):
        normalize_e164(bad)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("+1.202.555.0143", "+12025550143"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+39 06 1234 5678", "+390612345678"),  # Italy's leading 0 is part of the number
    ],
)
def test_the_documented_separators_are_accepted(written: str, expected: str) -> None:
    assert normalize_e164(written) == expected


def written_digits(text: str) -> str:
    return "".join(c for c in text if c in "0123456789")


# Inputs near valid numbers, where misreadings live: digits, our separators, and what
# phonenumbers would otherwise read or skip.
NEAR_A_NUMBER = st.lists(
    st.sampled_from(
        [
            *"0123456789",
            *" -.()",
            "+",
            *"xX;=#*/,abcABC",
            "tel:",
            "ext",
            *"\t\u00a0\u200b",  # tab, no-break space, zero-width space
            *"\uff10\u0663\u06f5\u00b2\uff0b",  # full-width 0 and +, Arabic-Indic 3 and 5, superscript 2
        ]
    ),
    max_size=24,
).map(lambda parts: "+1202555" + "".join(parts))


@given(NEAR_A_NUMBER | st.text(max_size=30))
@example("+1202555abcd")
@example("+44 (0)20 7946 0958")
@example("+1 (202) 555-0143")
def test_an_accepted_number_has_exactly_the_digits_written(text: str) -> None:
    try:
        result = normalize_e164(text)
    except InvalidPhoneNumber:
        return
    assert result == "+" + written_digits(text)
    assert set(text.strip(" ")) <= set("+0123456789 -.()")


@given(
    st.sampled_from(REGIONS),
    st.lists(st.sampled_from([" ", "-", ".", "(", ")", ""]), min_size=20, max_size=20),
)
def test_separators_anywhere_after_the_plus_never_change_the_number(region: str, seps: list[str]) -> None:
    example_number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example_number is None:
        return
    e164 = phonenumbers.format_number(example_number, phonenumbers.PhoneNumberFormat.E164)
    written = "+" + "".join(d + s for d, s in zip(e164[1:], seps, strict=False))
    assert normalize_e164(written) == e164


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+12025550143", "+1*******43"),
        ("+1 (202) 555-0143", "+1*******43"),
        ("12025550143", "+1*******43"),  # the country code is read from the digits
        ("+61491570156", "+61*******56"),
        ("+999123456", "*******56"),  # no such country code
        ("+1202", "+1*******"),  # too few digits to show any
        ("hello", "*******"),
        ("", "*******"),
    ],
)
def test_mask_keeps_the_country_code_and_the_last_two_digits_only(number: str, masked: str) -> None:
    assert mask(number) == masked


def test_every_countrys_number_masks_to_its_country_code_and_last_two_digits() -> None:
    for region in REGIONS:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        assert mask(e164) == f"+{example.country_code}*******{e164[-2:]}", region
