import random

from sinch_gateway.retry_policy import next_delay


def test_backoff_grows_exponentially_within_full_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(1, 8):
        ceiling = min(900, 2 * 2 ** (attempt - 1))
        delays = [next_delay(attempt, base_s=2, cap_s=900, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter spans the window


def test_the_cap_bounds_every_delay() -> None:
    assert all(next_delay(30, base_s=2, cap_s=60) <= 60 for _ in range(100))


def test_retry_after_is_a_floor() -> None:
    assert all(next_delay(1, base_s=2, cap_s=900, retry_after_s=7) >= 7 for _ in range(100))
