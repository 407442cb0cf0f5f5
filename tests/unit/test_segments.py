import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.domain.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM", 1),
        ("a" * 160, "GSM", 1),
        ("a" * 161, "GSM", 2),
        ("a" * 306, "GSM", 2),
        ("a" * 307, "GSM", 3),
        ("€" * 80, "GSM", 1),  # extension characters cost two septets
        ("€" * 81, "GSM", 2),
        ("a" * 152 + "€", "GSM", 1),  # 154 septets still fit in one
        ("a" * 159 + "€", "GSM", 2),
        ("é" * 160, "GSM", 1),  # é is in the GSM basic set
        ("ü" * 71, "GSM", 1),
        ("ç" * 70, "UNICODE", 1),  # only Ç (capital) is GSM
        ("ç" * 71, "UNICODE", 2),
        ("漢" * 134, "UNICODE", 2),
        ("漢" * 135, "UNICODE", 3),
        ("Ünïcödé? nö: ü is GSM, ï is not", "UNICODE", 1),
        ("a" * 152 + "€" + "a" * 8, "GSM", 2),  # 162 septets; the escape pair moves to part 2
        ("😀" * 35, "UNICODE", 1),  # a surrogate pair is two UTF-16 units
        ("😀" * 36, "UNICODE", 2),
    ],
)
def test_segments_and_encoding(text: str, encoding: str, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)


def test_an_escape_pair_is_never_split_across_segments() -> None:
    # 152 plain septets then '€' (2): it cannot straddle the 153-septet boundary.
    assert count_segments("a" * 152 + "€" + "a" * 153).segments == 3


GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=1600)


@given(GSM_TEXT)
def test_gsm_text_uses_gsm_and_fits_its_segments(text: str) -> None:
    count = count_segments(text)
    assert count.encoding == "GSM"
    capacity = 160 if count.segments == 1 else 153 * count.segments
    assert count.units <= capacity
    assert count.segments >= math.ceil(count.units / 153) if count.units > 160 else count.segments == 1


@given(st.text(max_size=800))
def test_adding_text_never_needs_fewer_segments(text: str) -> None:
    assert count_segments(text + "x").segments >= count_segments(text).segments
