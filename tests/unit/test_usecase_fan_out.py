"""FanOut on fakes: a batch's slice made into messages and handed to Sinch in calls for several
recipients (XMS), as many per call as the tenant's share of the rate allows, the rest put back
with its turn; a slice delivered twice sends nobody twice; a cancelled batch's recipients end
`cancelled`; Sinch's failures retried, refused or given up on per call."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from sinch_gateway.api.queue_bodies import read_queued
from sinch_gateway.domain.batches import (
    BatchRecord,
    BatchSlice,
    BatchStatus,
    SliceRecipient,
    recipient_message_id,
)
from sinch_gateway.domain.content import MmsSlidesContent, Slide, SmsContent
from sinch_gateway.domain.fan_out import batch_of_call, recipients_per_call, reported_message_id
from sinch_gateway.domain.message import MessageRecord, utcnow
from sinch_gateway.domain.outcomes import Accepted, NotFound, OutboundBatch, Refusal, Refused, Transient
from sinch_gateway.domain.rate_share import RateShare, Turn
from sinch_gateway.domain.status import Status
from sinch_gateway.usecases.fan_out import QueuedSlice
from sinch_gateway.usecases.queue_intake import MalformedRetry, QueuedSettle
from tests.unit.fakes import FakeBatchStore, FakeRate, Sending, sender_settings

TENANT = "k1l2m3n4o5"
BATCH_ID = "7c1e9a52-3f0b-4d2e-8a61-5b9c0d4e2f10"
SINCH_BATCH = "01HZX3K9Q7B2M4N6P8R0S2T4V6"
WEBHOOK = "https://api.example.com/v1-stage/v1/webhooks/sinch/delivery-reports"
TEXT = "Hi ${name}, your code is ${code}"


def batch(**changes: object) -> BatchRecord:
    record = BatchRecord(
        id=BATCH_ID,
        tenant_id=TENANT,
        content=SmsContent(text=TEXT),
        recipients=1000,
        refused=0,
        slices=1,
        webhook_url=WEBHOOK,
        defaults={"name": "customer"},
        client_reference="spring-sale",
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def a_slice(recipients: list[SliceRecipient], **changes: object) -> QueuedSlice:
    return QueuedSlice(BatchSlice(BATCH_ID, TENANT, 0, tuple(recipients), **changes))  # type: ignore[arg-type]


def recipients(n: int) -> list[SliceRecipient]:
    # Every recipient has its own code; every other one its own name (the rest get the default).
    return [
        SliceRecipient(to, {"code": f"{i:04d}", **({"name": f"N{i}"} if i % 2 == 0 else {})})
        for i, to in enumerate(unique_numbers(n))
    ]


def unique_numbers(n: int) -> list[str]:
    return [f"+1{200 + i // 100:03d}5550{i % 100:02d}" for i in range(n)]


def world(*, rate: FakeRate | None = None, **environment: str) -> Sending:
    sending = Sending(sender_settings(**environment), rate=rate or FakeRate())
    sending.batches.create(batch())
    return sending


def message(sending: Sending, to: str) -> MessageRecord:
    record = sending.store.get(recipient_message_id(BATCH_ID, to))
    assert record is not None, to
    return record


def hand_over(sending: Sending, queued: QueuedSlice) -> None:
    sending.fan_out.hand_over(queued, "{}", time_left_s=15.0)


def test_a_slice_of_1000_goes_in_one_call_with_each_recipients_parameters() -> None:
    sending = world()
    people = recipients(1000)
    sending.xms.on_send_batch(Accepted(SINCH_BATCH))

    hand_over(sending, a_slice(people))

    (call,) = sending.xms.batches_sent
    assert list(call.recipients) == [r.to for r in people]
    assert call.content == SmsContent(text=TEXT), "Sinch fills the text in"
    assert call.parameters["name"]["default"] == "customer"
    assert call.parameters["name"][people[0].to] == "N0" and people[1].to not in call.parameters["name"]
    assert call.parameters["code"][people[999].to] == "0999"
    assert batch_of_call(call.reference) == BATCH_ID
    first, second = message(sending, people[0].to), message(sending, people[1].to)
    assert first.content == SmsContent(text="Hi N0, your code is 0000")
    assert second.content == SmsContent(text="Hi customer, your code is 0001")
    for record in (first, second):
        assert record.status is Status.SUBMITTED and record.sinch_id == SINCH_BATCH
        assert record.batch_id == BATCH_ID and record.client_reference == "spring-sale"
        assert record.webhook_url == WEBHOOK and record.attempts == 1
    assert len(sending.store.records()) == 1000
    # One settle check for the call, naming its messages: not one SQS message per recipient.
    ((ids, _),) = sending.queue.settle_bodies
    assert set(ids) == {r.message_id(BATCH_ID) for r in people}
    assert sending.queue.settle_checks == [] and sending.queue.slices == []


def test_a_call_carries_no_parameter_value_of_a_recipient_it_does_not_carry() -> None:
    sending = world(SINCH_RATE_PER_S="20", SINCH_RATE_WAIT_S="1")  # 10 per call
    people = recipients(15)
    sending.xms.on_send_batch(Accepted("b1"), Accepted("b2"))

    hand_over(sending, a_slice(people))

    first, second = sending.xms.batches_sent
    assert set(first.parameters["code"]) == {r.to for r in people[:10]}
    assert set(second.parameters["code"]) == {r.to for r in people[10:]}
    assert message(sending, people[12].to).sinch_id == "b2"


def test_the_rate_counts_recipients_and_sizes_each_call_from_the_share() -> None:
    rate = FakeRate()
    sending = world(rate=rate, SINCH_RATE_PER_S="20", SINCH_RATE_WAIT_S="1")
    sending.xms.on_send_batch(Accepted("b1"), Accepted("b2"), Accepted("b3"))

    hand_over(sending, a_slice(recipients(25)))

    assert rate.acquired == [("xms", 10), ("xms", 10), ("xms", 5)]
    assert [len(c.recipients) for c in sending.xms.batches_sent] == [10, 10, 5]


def test_calls_size_to_the_plan_and_to_a_cap() -> None:
    assert recipients_per_call(0, RateShare("t"), 1.0) == 1000
    assert recipients_per_call(100, RateShare("t"), 1.0) == 50
    assert recipients_per_call(100_000, RateShare("t"), 1.0) == 1000
    assert recipients_per_call(100, RateShare("t", cap_per_s=8), 1.0) == 8
    assert recipients_per_call(1, RateShare("t"), 1.0) == 1


def test_when_the_rate_has_no_room_the_slice_goes_back_with_its_turn_and_nothing_is_made() -> None:
    sending = world(rate=FakeRate(wait_s=5.0))
    people = recipients(3)

    hand_over(sending, a_slice(people))

    assert sending.xms.calls == []
    assert sending.store.records() == []
    ((put_back, delay),) = sending.queue.slices
    assert put_back.recipients == tuple(people) and put_back.turn == FakeRate.TURN and delay == 5.0


def test_a_slice_put_back_comes_with_its_turn_to_the_rate() -> None:
    rate = FakeRate()
    sending = world(rate=rate)
    sending.xms.on_send_batch(Accepted(SINCH_BATCH))

    hand_over(sending, a_slice(recipients(2), turn=Turn(7.0)))

    assert rate.turns == [Turn(7.0)]


def test_a_slice_that_had_its_time_puts_the_rest_back() -> None:
    sending = world(SINCH_RATE_PER_S="20", SINCH_RATE_WAIT_S="1")  # 10 per call

    def slow(call: OutboundBatch) -> Accepted:
        sending.clock.advance(1.5)  # the call and its wait for the rate took longer than a turn
        return Accepted("b1")

    sending.xms.on_send_batch(slow)
    people = recipients(25)

    hand_over(sending, a_slice(people))

    assert len(sending.xms.batches_sent) == 1
    ((rest, delay),) = sending.queue.slices
    assert rest.recipients == tuple(people[10:]) and delay == 0.0 and rest.index == 0


def test_a_slice_delivered_again_sends_nobody_twice() -> None:
    sending = world()
    people = recipients(5)
    sending.xms.on_send_batch(Accepted(SINCH_BATCH))
    hand_over(sending, a_slice(people))

    hand_over(sending, a_slice(people))  # no answer scripted: a second call would fail the test

    assert len(sending.xms.calls) == 1
    assert {m.status for m in sending.store.records()} == {Status.SUBMITTED}


def test_a_message_that_moved_on_is_never_overwritten_by_a_slice_delivered_again() -> None:
    sending = world()
    people = recipients(2)
    sending.xms.on_send_batch(Accepted(SINCH_BATCH))
    hand_over(sending, a_slice(people))
    sending.store.transition(people[0].message_id(BATCH_ID), Status.DELIVERED, code=0)

    hand_over(sending, a_slice(people))

    assert message(sending, people[0].to).status is Status.DELIVERED


def died_mid_call(sending: Sending, people: list[SliceRecipient]) -> str:
    """The function claimed the recipients and called Sinch, then died before the answer."""

    def die(call: OutboundBatch) -> Accepted:
        raise TimeoutError("the function's time ran out")

    sending.xms.on_send_batch(die)
    with pytest.raises(TimeoutError):
        hand_over(sending, a_slice(people))
    (call,) = sending.xms.batches_sent
    sending.clock.advance(sending.settings.send_lease_s + 1)  # SQS delivers the slice again later
    return call.reference


def test_after_a_function_died_mid_call_the_call_is_looked_up_and_adopted_not_sent_again() -> None:
    sending = world()
    people = recipients(3)
    reference = died_mid_call(sending, people)
    sending.xms.on_find(Accepted(SINCH_BATCH))

    hand_over(sending, a_slice(people))

    assert sending.xms.called("find") == [reference]
    assert len(sending.xms.batches_sent) == 1, "adopted: not sent again"
    assert {m.status for m in sending.store.records()} == {Status.SUBMITTED}
    assert {m.sinch_id for m in sending.store.records()} == {SINCH_BATCH}


def test_after_a_function_died_before_sinch_had_the_call_it_is_sent_again() -> None:
    sending = world()
    people = recipients(3)
    died_mid_call(sending, people)
    sending.xms.on_find(NotFound())
    sending.xms.on_send_batch(Accepted(SINCH_BATCH))

    hand_over(sending, a_slice(people))

    second = sending.xms.batches_sent[1]
    assert list(second.recipients) == [r.to for r in people]
    assert {m.status for m in sending.store.records()} == {Status.SUBMITTED}
    assert {m.attempts for m in sending.store.records()} == {2}


def test_a_lookup_without_a_clear_answer_sends_nothing_blind() -> None:
    sending = world()
    people = recipients(2)
    died_mid_call(sending, people)
    sending.xms.on_find(Transient("sinch_503"))

    hand_over(sending, a_slice(people))

    assert len(sending.xms.batches_sent) == 1
    assert {m.status for m in sending.store.records()} == {Status.RETRYING}
    assert all(m.unconfirmed for m in sending.store.records())
    ((put_back, _),) = sending.queue.slices
    assert put_back.recipients == tuple(people)


def test_a_cancelled_batch_ends_its_recipients_not_handed_over_cancelled_and_sends_nothing() -> None:
    sending = world()
    sending.batches.set_status(BATCH_ID, BatchStatus.CANCELLED)
    people = recipients(4)

    hand_over(sending, a_slice(people))

    assert sending.xms.calls == []
    assert {m.status for m in sending.store.records()} == {Status.CANCELLED}
    assert len(sending.store.records()) == 4
    assert [e.status for e in message(sending, people[0].to).events] == [Status.ACCEPTED, Status.CANCELLED]


def test_a_batch_cancelled_between_two_calls_ends_only_the_recipients_not_handed_over() -> None:
    sending = world(SINCH_RATE_PER_S="20", SINCH_RATE_WAIT_S="1")  # 10 per call
    people = recipients(15)

    def cancel_after(call: OutboundBatch) -> Accepted:
        sending.batches.set_status(BATCH_ID, BatchStatus.CANCELLED)
        return Accepted(SINCH_BATCH)

    sending.xms.on_send_batch(cancel_after)

    hand_over(sending, a_slice(people))

    assert len(sending.xms.batches_sent) == 1
    assert {message(sending, r.to).status for r in people[:10]} == {Status.SUBMITTED}
    assert {message(sending, r.to).status for r in people[10:]} == {Status.CANCELLED}


def test_a_server_error_puts_the_recipients_back_retrying_with_a_backoff() -> None:
    sending = world()
    people = recipients(3)
    sending.xms.on_send_batch(Transient("sinch_503"))

    hand_over(sending, a_slice(people))

    assert {m.status for m in sending.store.records()} == {Status.RETRYING}
    assert {m.error_code for m in sending.store.records()} == {"sinch_503"}
    ((put_back, delay),) = sending.queue.slices
    assert put_back.recipients == tuple(people) and delay > 0
    sending.xms.on_send_batch(Accepted(SINCH_BATCH))

    hand_over(sending, QueuedSlice(put_back))

    assert {m.status for m in sending.store.records()} == {Status.SUBMITTED}
    assert sending.xms.called("find") == [], "a 503 is no lost answer: nothing to look up"
    assert {m.attempts for m in sending.store.records()} == {2}


def test_a_429_holds_every_sender_off_and_uses_up_no_attempt() -> None:
    rate = FakeRate()
    sending = world(rate=rate)
    sending.xms.on_send_batch(Transient("rate_limited", retry_after_s=3.0, rate_limited=True))

    hand_over(sending, a_slice(recipients(2)))

    assert rate.held_off == [("xms", 3.0)]
    assert {m.attempts for m in sending.store.records()} == {0}
    ((_, delay),) = sending.queue.slices
    assert delay >= 3.0


def test_a_lost_answer_is_looked_up_before_the_recipients_are_sent_again() -> None:
    sending = world()
    people = recipients(2)
    sending.xms.on_send_batch(Transient("no_answer: ReadTimeoutError", ambiguous=True))
    hand_over(sending, a_slice(people))
    (first,) = sending.xms.batches_sent
    assert all(m.unconfirmed for m in sending.store.records())
    ((put_back, delay),) = sending.queue.slices
    assert delay >= sending.xms.settle_s
    sending.xms.on_find(Accepted(SINCH_BATCH))

    hand_over(sending, QueuedSlice(put_back))

    assert sending.xms.called("find") == [first.reference]
    assert len(sending.xms.batches_sent) == 1
    assert {m.status for m in sending.store.records()} == {Status.SUBMITTED}


def test_out_of_attempts_the_recipients_end_failed_and_the_call_is_parked() -> None:
    sending = world(MAX_SEND_ATTEMPTS="1")
    sending.xms.on_send_batch(Transient("sinch_500"))

    hand_over(sending, a_slice(recipients(2)))

    assert {m.status for m in sending.store.records()} == {Status.FAILED}
    assert {m.error_code for m in sending.store.records()} == {"retries_exhausted"}
    (parked,) = sending.queue.dead_letters
    assert parked.reason.startswith("retries_exhausted") and len(json.loads(parked.body)["messageIds"]) == 2
    assert sending.queue.slices == []


def test_a_refused_call_ends_each_recipient_rejected_with_sinchs_code() -> None:
    sending = world()
    sending.xms.on_send_batch(Refused(400, "syntax_invalid_parameter_format", "bad", Refusal.MESSAGE))

    hand_over(sending, a_slice(recipients(2)))

    assert {m.status for m in sending.store.records()} == {Status.REJECTED}
    assert {m.error_code for m in sending.store.records()} == {"syntax_invalid_parameter_format"}
    assert {m.sinch_http_status for m in sending.store.records()} == {400}


def test_a_report_faster_than_the_answer_keeps_its_status_and_the_message_gets_sinchs_id() -> None:
    sending = world()
    people = recipients(1)

    def reported_first(call: OutboundBatch) -> Accepted:
        sending.store.transition(people[0].message_id(BATCH_ID), Status.DELIVERED, code=0)
        return Accepted(SINCH_BATCH)

    sending.xms.on_send_batch(reported_first)

    hand_over(sending, a_slice(people))

    record = message(sending, people[0].to)
    assert record.status is Status.DELIVERED and record.sinch_id == SINCH_BATCH


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"tenant_id": "someone-else"}, "tenant_mismatch"), ({"id": "another-batch"}, "unknown_batch")],
)
def test_a_slice_of_no_batch_of_its_tenant_is_parked_with_why_and_sends_nothing(
    changes: dict[str, str], reason: str
) -> None:
    sending = Sending()
    sending.batches = FakeBatchStore()
    sending.fan_out._batches = sending.batches
    sending.batches.create(batch(**changes))

    hand_over(sending, a_slice(recipients(2)))

    (parked,) = sending.queue.dead_letters
    assert parked.reason.startswith(reason)
    assert sending.xms.calls == [] and sending.store.records() == []


def test_an_expired_batch_ends_its_recipients_expired_unsent() -> None:
    sending = Sending()
    sending.batches.create(batch(expire_at=utcnow() - timedelta(minutes=1)))

    hand_over(sending, a_slice(recipients(2)))

    assert sending.xms.calls == []
    assert {m.status for m in sending.store.records()} == {Status.EXPIRED}


def test_an_mms_json_batch_goes_one_recipient_per_call_as_single_messages() -> None:
    sending = Sending()
    slides = MmsSlidesContent(slides=(Slide(text="Spring sale"),), subject="Sale", fallback_text="Sale")
    sending.batches.create(batch(content=slides, defaults={}))
    people = [SliceRecipient(to) for to in unique_numbers(3)]
    sending.mms.on_send(Accepted("t1"), Accepted("t2"), Accepted("t3"))

    hand_over(sending, a_slice(people))

    assert [m.to for m in sending.mms.sent] == [r.to for r in people]
    assert [m.reference for m in sending.mms.sent] == [r.message_id(BATCH_ID) for r in people]
    assert {m.status for m in sending.store.records()} == {Status.SUBMITTED}
    assert {m.batch_id for m in sending.store.records()} == {BATCH_ID}


def test_an_mms_json_recipient_waiting_for_the_rate_puts_the_others_back_behind_it() -> None:
    sending = Sending(rate=FakeRate(wait_s=5.0))
    slides = MmsSlidesContent(slides=(Slide(text="Spring sale"),), subject="Sale", fallback_text="Sale")
    sending.batches.create(batch(content=slides, defaults={}))
    people = [SliceRecipient(to) for to in unique_numbers(3)]

    hand_over(sending, a_slice(people))

    assert sending.mms.calls == []
    assert message(sending, people[0].to).status is Status.RETRYING, "it waits for its own turn"
    assert [m for m, _ in sending.queue.retries] == [people[0].message_id(BATCH_ID)]
    ((rest, _),) = sending.queue.slices
    assert rest.recipients == tuple(people[1:])


def test_a_report_on_a_recipient_of_a_call_finds_its_message() -> None:
    to = "+12025550143"
    reference = "7c1e9a52-3f0b-4d2e-8a61-5b9c0d4e2f10/3/0a1b2c3d"

    assert reported_message_id(reference, to) == recipient_message_id(BATCH_ID, to)
    assert reported_message_id(reference, to.removeprefix("+")) == recipient_message_id(BATCH_ID, to)
    assert reported_message_id(reference, None) is None, "a report on the whole call: no one message"
    assert reported_message_id(BATCH_ID, to) == BATCH_ID, "a call for one message names the message"
    assert reported_message_id(None, to) is None


def test_a_slice_body_is_read_as_send_queue_writes_it() -> None:
    body = {
        "kind": "slice",
        "batchId": BATCH_ID,
        "tenant": TENANT,
        "index": 2,
        "recipients": [{"to": "+12025550143", "values": {"name": "Ann"}}, {"to": "+12025550144"}],
        "turn": {"place": 3.5},
    }

    assert read_queued(json.dumps(body)) == QueuedSlice(
        BatchSlice(
            BATCH_ID,
            TENANT,
            2,
            (SliceRecipient("+12025550143", {"name": "Ann"}), SliceRecipient("+12025550144")),
            Turn(3.5),
        )
    )


@pytest.mark.parametrize(
    ("fields", "read"),
    [
        ({"messageIds": ["m1", "m2"]}, QueuedSettle(("m1", "m2"))),
        ({"messageId": "m1"}, QueuedSettle(("m1",))),
        ({"messageId": "m1", "messageIds": ["m2"]}, MalformedRetry()),
        ({}, MalformedRetry()),
        ({"messageIds": []}, MalformedRetry()),
    ],
)
def test_a_settle_check_names_one_message_or_the_messages_of_one_call(
    fields: dict[str, object], read: object
) -> None:
    assert read_queued(json.dumps({"kind": "settle", **fields})) == read


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipients": []}, "recipients"),
        ({"recipients": [{"to": "2025550143"}]}, "recipients.0.to"),
        ({"recipients": [{"to": "+12025550143", "values": {"na me": "x"}}]}, "recipients.0.values"),
        ({"batchId": "a/b"}, "batchId"),
        ({"index": -1}, "index"),
    ],
)
def test_a_slice_that_cannot_be_read_says_which_field(changes: dict[str, object], field: str) -> None:
    """Parked on the DLQ with that reason by QueueIntake (tests/integration/test_fan_out.py)."""
    body = {
        "kind": "slice",
        "batchId": BATCH_ID,
        "tenant": TENANT,
        "index": 0,
        "recipients": [{"to": "+12025550143"}],
    }

    read = read_queued(json.dumps({**body, **changes}))

    assert isinstance(read, MalformedRetry) and f": {field}" in read.reason, read
