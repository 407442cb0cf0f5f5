"""SMS part counting as Sinch's dry run reports it: GSM-7 (160/153) or UCS-2 (70/67)."""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet (0x1B, the escape, is left out: it is not a character of its own).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs two septets (escape + char).
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class Parts:
    encoding: str  # "GSM" | "UNICODE"
    number_of_parts: int


def is_gsm(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def count_parts(text: str) -> Parts:
    if is_gsm(text):
        units = [2 if ch in GSM_EXTENSION else 1 for ch in text]
        return Parts("GSM", _split(units, GSM_SINGLE, GSM_MULTI))
    # UCS-2 counts UTF-16 code units; a character outside the BMP is a surrogate pair (2 units).
    units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return Parts("UNICODE", _split(units, UCS2_SINGLE, UCS2_MULTI))


def _split(units: list[int], single: int, multi: int) -> int:
    """Parts needed; an escape pair or surrogate pair is never split across two parts."""
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for unit in units:
        if used + unit > multi:
            parts, used = parts + 1, 0
        used += unit
    return parts
