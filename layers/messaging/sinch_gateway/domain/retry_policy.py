"""When to try a transient failure again: exponential backoff with full jitter."""

from __future__ import annotations

import random


def next_delay(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt `attempt + 1`. Full jitter spreads a burst of failures;
    Sinch's own Retry-After is a floor, never shortened."""
    # The exponent is bounded: 2**attempt of a large attempt would overflow a float.
    ceiling = min(cap_s, base_s * 2.0 ** min(max(0, attempt - 1), 64))
    delay = (rng or random).uniform(0, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, cap_s) if retry_after_s is None else delay
