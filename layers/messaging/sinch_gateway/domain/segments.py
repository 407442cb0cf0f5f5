"""SMS segment counting: GSM-7 (with its extension table) or UCS-2, as handsets and Sinch count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension characters are sent as ESC + char, so each costs two septets.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

Encoding = Literal["GSM", "UNICODE"]


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    segments: int
    units: int  # septets for GSM, UTF-16 code units for UNICODE


def _pack(unit_sizes: list[int], single: int, multi: int) -> int:
    """Segments needed when a character (1 or 2 units) may not be split across segments."""
    total = sum(unit_sizes)
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in unit_sizes:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return segments


def count_segments(text: str) -> SegmentCount:
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        sizes = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return SegmentCount("GSM", _pack(sizes, 160, 153), sum(sizes))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SegmentCount("UNICODE", _pack(sizes, 70, 67), sum(sizes))
