"""Fictional US numbers in bulk, for batches of up to 10,000 recipients.

North America reserves 555-0100 to 555-0199 in every area code for fiction; one area code gives
only 100 numbers, so a large batch spreads over many. Every number here is a valid US number to
`phonenumbers` (a test checks), so the gateway takes it and no real handset has it.
"""

from __future__ import annotations

# US area codes, in order; in each, 555-0100..555-0199 all parse as valid US numbers.
AREA_CODES = (
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 220, 223,
    224, 225, 227, 228, 229, 231, 234, 235, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267,
    269, 270, 272, 274, 276, 279, 281, 283, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313,
    314, 315, 316, 317, 318, 319, 320, 321, 323, 324, 325, 326, 327, 329, 330, 331, 332, 334, 336,
    337, 339, 341, 346, 347, 350, 351, 352, 353, 360, 361, 363, 364, 369, 380, 385, 386, 401, 402,
    404, 405, 406, 407, 408,
)  # fmt: skip
PER_AREA_CODE = 100
MAX_NUMBERS = len(AREA_CODES) * PER_AREA_CODE


def fictional_numbers(count: int, start: int = 0) -> list[str]:
    """`count` distinct E.164 numbers +1 NPA 555 01YY, from the `start`-th on."""
    if not 0 <= start <= start + count <= MAX_NUMBERS:
        raise ValueError(f"only {MAX_NUMBERS} fictional numbers: cannot give {start}..{start + count}")
    return [
        f"+1{AREA_CODES[i // PER_AREA_CODE]}55501{i % PER_AREA_CODE:02d}" for i in range(start, start + count)
    ]
