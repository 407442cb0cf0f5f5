"""No unbounded message, on fakes: one that Sinch keeps refusing with 429 (or that keeps waiting
for the shared rate) stays small, can be cancelled, and ends `too_old` at MaxMessageAgeSeconds
from when it was due, with nothing sent, and never twice."""

import json
import logging
from datetime import timedelta

import pytest

from devstack.dynamodb_limits import item_size
from sinch_gateway.data.messages import message_item, to_item
from sinch_gateway.domain.content import SmsContent, XmsMediaContent
from sinch_gateway.domain.message import (
    ITEM_BOUND_BYTES,
    MAX_EVENTS,
    MessageDraft,
    MessageRecord,
    StatusEvent,
    utcnow,
)
from sinch_gateway.domain.outcomes import Accepted, NotFound, Transient
from sinch_gateway.domain.status import Status
from tests.unit.fakes import Sending, metrics_dropped, sender_settings

TENANT = "k1l2m3n4o5"
CALLBACK = "https://api.example.com/v1-stage/v1/webhooks/sinch/delivery-reports"
SMS = MessageDraft(to="+12025550143", content=SmsContent(text="Your order has shipped"))
BATCH = "01HZX3K9Q7B2M4N6P8R0S2T4V6"
SLOWER = Transient("rate_limited", retry_after_s=1.0, rate_limited=True)
DAY_S = 86_400


def stored(world: Sending, message_id: str) -> MessageRecord:
    record = world.store.get(message_id)
    assert record is not None
    return record


def attempt(world: Sending, message_id: str) -> None:
    """One retry, as one QueueFunction invocation runs it (whose metrics it flushes when done)."""
    world.sender.attempt(message_id)
    metrics_dropped()


def stored_size(world: Sending, message_id: str) -> int:
    """The message's size as DynamoDB would count the item the repository writes."""
    return item_size(to_item(message_item(stored(world, message_id))))


def waiting_since(world: Sending, seconds_ago: float, **changes: object) -> str:
    """A message accepted `seconds_ago`, that met a 429 and waits for its retry."""
    accepted = utcnow() - timedelta(seconds=seconds_ago)
    record = MessageRecord(
        tenant_id=TENANT,
        to=SMS.to,
        content=SMS.content,
        webhook_url=CALLBACK,
        status=Status.RETRYING,
        error_code="rate_limited",
        error_text="rate_limited; it will be sent again",
        created_at=accepted,
        events=[
            StatusEvent(status=Status.ACCEPTED, at=accepted),
            StatusEvent(status=Status.RETRYING, at=accepted, code="rate_limited", detail="rate_limited"),
        ],
    ).expire_after(90)
    return world.store.seed(record.model_copy(update=changes)).id


# --- thousands of waits ------------------------------------------------------------------------


def test_thousands_of_429s_and_rate_waits_are_one_counted_event_and_the_item_stays_small() -> None:
    world = Sending()
    world.xms.on_send(SLOWER)
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    for n in range(3000):
        if n % 2:
            world.rate.wait_s = 3.0  # no turn in the shared rate: a wait, no call
        else:
            world.rate.wait_s = 0.0
            world.xms.on_send(SLOWER)
        attempt(world, message_id)

    record = stored(world, message_id)
    assert (record.status, record.attempts, record.error_code) == (Status.RETRYING, 0, "rate_limited")
    assert [(e.status, e.code, e.count) for e in record.events] == [
        (Status.ACCEPTED, None, None),
        (Status.RETRYING, "rate_limited", 3001),
    ]
    assert stored_size(world, message_id) < 1000
    assert len(world.xms.sent) == 1501, "every call was refused: nothing reached a handset"


def test_retries_alternating_between_reasons_stop_at_max_events_and_stay_under_the_bound() -> None:
    world = Sending(sender_settings(MAX_SEND_ATTEMPTS="100000"))
    world.xms.on_find(*[NotFound()] * 2001)  # an attempt after a counted one asks Sinch first
    world.xms.on_send(*[SLOWER, Transient("sinch_503")] * 1000)
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    for _ in range(1999):
        attempt(world, message_id)

    record = stored(world, message_id)
    assert [e.code for e in record.events[1:4]] == ["rate_limited", "sinch_503", "rate_limited"]
    assert len(record.events) == MAX_EVENTS
    assert stored_size(world, message_id) <= ITEM_BOUND_BYTES

    world.xms.on_send(Accepted(BATCH))
    world.sender.attempt(message_id)
    assert stored(world, message_id).events[-1].status is Status.SUBMITTED, "a status move is always kept"


def test_a_message_retried_thousands_of_times_is_cancelled_and_never_sent() -> None:
    world = Sending()
    world.xms.on_send(*[SLOWER] * 3000)
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    for _ in range(2999):
        attempt(world, message_id)

    cancelled = world.sender.cancel(TENANT, message_id)

    assert cancelled.status is Status.CANCELLED
    assert [e.status for e in stored(world, message_id).events] == [
        Status.ACCEPTED,
        Status.RETRYING,
        Status.CANCELLED,
    ]


# --- too old -----------------------------------------------------------------------------------


def test_a_message_not_handed_over_at_its_max_age_fails_too_old_with_nothing_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = Sending()  # MaxMessageAgeSeconds: the default, a day
    message_id = waiting_since(world, DAY_S + 1)

    with caplog.at_level(logging.ERROR):
        world.sender.attempt(message_id)

    record = stored(world, message_id)
    assert (record.status, record.error_code, record.attempts) == (Status.FAILED, "too_old", 0)
    assert record.error_text == (
        "not sent: Sinch did not take it within 86400 s of when it was due (last error: rate_limited)"
    )
    assert [(e.status, e.code) for e in record.events[1:]] == [
        (Status.RETRYING, "rate_limited"),
        (Status.FAILED, "too_old"),
    ]
    assert (world.xms.calls, world.rate.acquired, world.queue.retries) == ([], [], [])
    (parked,) = world.queue.dead_letters
    assert (json.loads(parked.body)["reason"], parked.message_id) == ("too_old", message_id)
    (logged,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (logged.getMessage(), logged.__dict__["reason"]) == ("giving up on the message", "too_old")


def test_a_message_within_its_max_age_is_still_sent() -> None:
    world = Sending()
    message_id = waiting_since(world, DAY_S - 60)
    world.xms.on_send(Accepted(BATCH))

    world.sender.attempt(message_id)

    assert stored(world, message_id).status is Status.SUBMITTED


def test_the_max_age_is_a_setting() -> None:
    world = Sending(sender_settings(MAX_MESSAGE_AGE_S="600"))
    message_id = waiting_since(world, 601)

    world.sender.attempt(message_id)

    assert stored(world, message_id).error_code == "too_old"
    assert world.xms.calls == []


def test_a_long_retry_after_brings_the_message_back_when_its_age_runs_out() -> None:
    world = Sending()
    message_id = waiting_since(world, DAY_S - 100)
    world.xms.on_send(Transient("rate_limited", retry_after_s=3600.0, rate_limited=True))

    world.sender.attempt(message_id)

    [(_, delay)] = world.queue.retries
    assert 98 < delay <= 100, "back when it is due to end, not an hour later"


@pytest.mark.parametrize(
    ("due_s_ago", "status"),
    [(DAY_S - 60, Status.SUBMITTED), (DAY_S + 1, Status.FAILED)],
    ids=["due-less-than-a-day-ago", "due-more-than-a-day-ago"],
)
def test_a_scheduled_message_ages_from_its_send_at_not_from_its_acceptance(
    due_s_ago: float, status: Status
) -> None:
    """An MMS scheduled 3 days ahead waits in the gateway until due: it must not die of waiting
    for its own sendAt. Accepted 3.5 days ago, it has its day from sendAt."""
    world = Sending()
    accepted = utcnow() - timedelta(days=3.5)
    held = MessageRecord(
        tenant_id=TENANT,
        to=SMS.to,
        content=XmsMediaContent(media_url="https://example.com/a.jpg", media_key="media/k1"),
        webhook_url=CALLBACK,
        send_at=utcnow() - timedelta(seconds=due_s_ago),
        created_at=accepted,
        events=[StatusEvent(status=Status.ACCEPTED, at=accepted)],
    ).expire_after(90)
    message_id = world.store.seed(held).id
    world.xms.on_send(Accepted(BATCH))

    world.sender.attempt(message_id)

    assert stored(world, message_id).status is status
    assert len(world.xms.sent) == (1 if status is Status.SUBMITTED else 0)


def test_an_attempt_whose_answer_was_lost_is_not_sent_again_when_too_old() -> None:
    """Sinch may hold the earlier attempt: the message ends too_old without a lookup or a send,
    and says that Sinch may still have it."""
    world = Sending()
    message_id = waiting_since(world, DAY_S + 1, unconfirmed=True, attempts=2, error_code="no_answer")

    world.sender.attempt(message_id)

    record = stored(world, message_id)
    assert (record.status, record.error_code, record.attempts) == (Status.FAILED, "too_old", 2)
    assert record.error_text == (
        "not sent: Sinch did not take it within 86400 s of when it was due (last error: no_answer); "
        "an earlier attempt's answer was lost, so Sinch may still have that one (its delivery "
        "reports would show here as events)"
    )
    assert world.xms.calls == [], "no lookup, no send"
