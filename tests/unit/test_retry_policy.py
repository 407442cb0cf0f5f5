import json
import math
import random
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.api.queue_bodies import read_queued
from sinch_gateway.data.send_queue import MAX_WAIT_S, SendQueue, bounded_wait
from sinch_gateway.domain.rate_share import Turn, Waiting
from sinch_gateway.domain.retry_policy import next_delay
from sinch_gateway.usecases.queue_intake import QueuedRetry


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


def test_a_late_attempt_does_not_overflow_the_backoff() -> None:
    assert 0 <= next_delay(5000, base_s=2, cap_s=900) <= 900


def not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


class RecordingSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


@pytest.mark.parametrize(
    ("delay_s", "sqs_delay", "carried"),
    [
        (math.inf, 900, MAX_WAIT_S),  # round(inf) was an OverflowError: a retry lost
        (1e308, 900, MAX_WAIT_S),
        (math.nan, 0, None),
        (-math.inf, 0, None),
        (-5, 0, None),
        (12.4, 12, None),
        (3600, 900, 3600),
        (3 * 86_400, 900, 3 * 86_400),  # a scheduled MMS held until its sendAt, 3 days ahead at most
    ],
)
def test_a_retry_is_queued_for_any_delay_up_to_the_longest_hold(
    delay_s: float, sqs_delay: int, carried: float | None
) -> None:
    sqs = RecordingSqs()
    before = time.time()
    SendQueue(sqs, "q", "dlq").enqueue_retry("m", delay_s)  # type: ignore[arg-type]
    (sent,) = sqs.sent
    assert sent["DelaySeconds"] == sqs_delay
    body = json.loads(sent["MessageBody"], parse_constant=not_json)
    if carried is None:
        assert "notBefore" not in body
    else:
        assert before + carried - 0.001 <= body["notBefore"] <= time.time() + carried + 0.001


def test_a_retry_carries_the_place_its_message_keeps_in_the_rate() -> None:
    sqs = RecordingSqs()
    SendQueue(sqs, "q", "dlq").enqueue_retry("m", 3.0, Turn(12.5, 1.8e9))  # type: ignore[arg-type]
    SendQueue(sqs, "q", "dlq").enqueue_retry("n", 3.0, Turn(13.5))  # type: ignore[arg-type]
    SendQueue(sqs, "q", "dlq").enqueue_retry("o", 3.0)  # type: ignore[arg-type]

    bodies = [json.loads(sent["MessageBody"]) for sent in sqs.sent]
    assert [body.get("turn") for body in bodies] == [{"place": 12.5, "capAt": 1.8e9}, {"place": 13.5}, None]


def test_a_retry_waiting_for_its_turn_comes_back_as_it_was_queued() -> None:
    sqs = RecordingSqs()
    waiting = Waiting("xms", "tenant-a", 2, 1.8e9)
    SendQueue(sqs, "q", "dlq").enqueue_retry("m", 3.0, Turn(12.5), waiting)  # type: ignore[arg-type]

    (sent,) = sqs.sent
    read = read_queued(sent["MessageBody"])

    assert read == QueuedRetry("m", None, Turn(12.5), waiting)


@pytest.mark.parametrize(
    "waiting",
    [{"api": "xms"}, {"api": "xms", "tenant": "t", "calls": 0, "until": 1.0}, "nonsense", {"calls": 1e400}],
)
def test_a_retry_whose_wait_cannot_be_read_is_still_attempted_read_first(waiting: object) -> None:
    body = json.dumps({"kind": "retry", "messageId": "m", "turn": {"place": 1.0}, "waiting": waiting})

    assert read_queued(body) == QueuedRetry("m", None, Turn(1.0), None)


@given(st.floats())
def test_bounded_wait_is_always_a_wait_sqs_and_json_can_carry(seconds: float) -> None:
    assert 0 <= bounded_wait(seconds) <= MAX_WAIT_S
