"""MessageSender against in-memory fakes: what each Sinch outcome makes of a message, retries and
their waits, never sending twice, cancelling and dry runs."""

import json
import random
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from sinch_gateway.api.problems import problem_kind
from sinch_gateway.domain.content import (
    Api,
    MmsSlidesContent,
    Slide,
    SmsContent,
    XmsMediaContent,
    api_of,
)
from sinch_gateway.domain.errors import (
    Conflict,
    MessageNotFound,
    SinchForbidden,
    SinchMisconfigured,
    SinchUnavailable,
)
from sinch_gateway.domain.message import MessageDraft, MessageRecord, utcnow
from sinch_gateway.domain.outcomes import (
    Accepted,
    Answered,
    AuthFailed,
    CannotLookUp,
    DryRun,
    DryRunPart,
    LookupOutcome,
    NotFound,
    NotOffered,
    OutboundMessage,
    Refusal,
    Refused,
    SendOutcome,
    Transient,
)
from sinch_gateway.domain.rate_share import RateShare
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.usecases import sending
from tests.unit.fakes import SENDER_NUMBER, FakeRate, FakeTenantStore, Sending, sender_settings

TENANT = "k1l2m3n4o5"
CALLBACK = "https://api.example.com/v1-stage/v1/webhooks/sinch/delivery-reports"
SMS = MessageDraft(to="+12025550143", content=SmsContent(text="Your order has shipped"))
MMS = MessageDraft(to="+12025550144", content=MmsSlidesContent(slides=(Slide(text="Spring sale"),)))
BATCH = "01HZX3K9Q7B2M4N6P8R0S2T4V6"
UNAVAILABLE = Transient("sinch_503")
LOST_ANSWER = Transient("no_answer: ReadTimeoutError", ambiguous=True)


@pytest.fixture
def world() -> Sending:
    return Sending()


@pytest.fixture
def jitter_at_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter picks the top of its window: each delay is exactly the backoff's ceiling."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)


def stored(world: Sending, message_id: str) -> MessageRecord:
    record = world.store.get(message_id)
    assert record is not None
    return record


def retrying(world: Sending) -> str:
    """A message whose first attempt met a transient failure, waiting for its retry."""
    world.xms.on_send(UNAVAILABLE)
    record = world.sender.submit(SMS, CALLBACK, TENANT).message
    assert record.status is Status.RETRYING
    return record.id


def submitted(world: Sending, draft: MessageDraft = SMS) -> str:
    world.channels[api_of(draft.content)].on_send(Accepted(BATCH))
    return world.sender.submit(draft, CALLBACK, TENANT).message.id


# --- one attempt -------------------------------------------------------------------------------


def test_an_accepted_message_is_submitted_with_sinchs_id(world: Sending) -> None:
    world.xms.on_send(Accepted(BATCH))

    answer = world.sender.submit(
        SMS.model_copy(update={"client_reference": "order-1"}), CALLBACK, TENANT
    ).message

    record = stored(world, answer.id)
    assert (answer.status, answer.sinch_id) == (Status.SUBMITTED, BATCH)
    assert (record.status, record.sinch_id, record.attempts) == (Status.SUBMITTED, BATCH, 1)
    assert (record.tenant_id, record.client_reference, record.segments, record.encoding) == (
        TENANT,
        "order-1",
        1,
        "GSM",
    )
    assert [(e.status, e.detail) for e in record.events] == [
        (Status.ACCEPTED, None),
        (Status.SUBMITTED, f"batch {BATCH}"),
    ]
    expires = record.created_at + timedelta(days=3)  # Sinch's default and longest
    assert record.expire_at == expires
    assert world.xms.sent == [OutboundMessage(answer.id, SMS.to, SMS.content, CALLBACK, expire_at=expires)]
    assert (world.queue.retries, world.queue.dead_letters, world.mms.calls) == ([], [], [])


def test_a_message_whose_expire_at_passed_before_sinch_took_it_ends_expired_unsent(
    world: Sending, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.xms.on_send(Transient("sinch_503"))
    expire_at = utcnow() + timedelta(minutes=5)
    answer = world.sender.submit(SMS.model_copy(update={"expire_at": expire_at}), CALLBACK, TENANT)
    assert answer.message.status is Status.RETRYING
    monkeypatch.setattr(sending, "utcnow", lambda: expire_at)

    world.sender.attempt(answer.message.id)

    record = stored(world, answer.message.id)
    assert (record.status, record.error_code) == (Status.EXPIRED, "expired_unsent")
    assert len(world.xms.sent) == 1, "not sent again past its expiry"


def test_each_content_goes_through_the_channel_of_its_api(world: Sending) -> None:
    media = MessageDraft(to="+12025550143", content=XmsMediaContent(media_url="https://example.com/a.jpg"))
    world.xms.on_send(Accepted("xms-1"))
    world.mms.on_send(Accepted("mms-1"))

    through_xms = world.sender.submit(media, CALLBACK, TENANT).message
    through_mms = world.sender.submit(MMS, CALLBACK, TENANT).message

    assert [m.reference for m in world.xms.sent] == [through_xms.id]
    assert [m.reference for m in world.mms.sent] == [through_mms.id]
    assert stored(world, through_mms.id).sinch_id == "mms-1"
    assert stored(world, through_mms.id).segments is None  # segments are an SMS's


def test_a_refused_message_is_rejected_with_sinchs_code_and_never_retried(world: Sending) -> None:
    world.xms.on_send(Refused(403, "unknown_campaign", "No campaign for this sender", Refusal.FORBIDDEN))

    answer = world.sender.submit(SMS, CALLBACK, TENANT).message
    again = world.sender.attempt(answer.id)  # a stray retry

    record = stored(world, answer.id)
    assert (record.status, record.error_code, record.error_text, record.sinch_http_status) == (
        Status.REJECTED,
        "unknown_campaign",
        "No campaign for this sender",
        403,
    )
    assert answer.error_code == "unknown_campaign" and again.status is Status.REJECTED
    assert len(world.xms.calls) == 1
    assert (world.queue.retries, world.queue.dead_letters) == ([], [])


def test_credentials_sinch_refuses_fail_the_message_without_a_retry(world: Sending) -> None:
    world.xms.on_send(AuthFailed("401 after refreshing the token"))

    answer = world.sender.submit(SMS, CALLBACK, TENANT).message

    record = stored(world, answer.id)
    assert (record.status, record.error_code, record.sinch_http_status) == (
        Status.FAILED,
        "sinch_unauthorized",
        401,
    )
    assert (world.queue.retries, world.queue.dead_letters) == ([], [])


def test_an_unknown_message_cannot_be_attempted(world: Sending) -> None:
    with pytest.raises(MessageNotFound):
        world.sender.attempt("3f1e9d3c-0000-4000-8000-000000000000")
    assert world.xms.calls == []


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("jitter_at_ceiling")
def test_transient_failures_wait_longer_each_time_up_to_the_cap() -> None:
    world = Sending(sender_settings(MAX_SEND_ATTEMPTS="6", RETRY_BASE_DELAY_S="3", RETRY_MAX_DELAY_S="20"))
    message_id = retrying(world)
    for _ in range(4):
        world.xms.on_find(NotFound())
        world.xms.on_send(UNAVAILABLE)
        world.sender.attempt(message_id)

    assert world.queue.retries == [(message_id, d) for d in (3.0, 6.0, 12.0, 20.0, 20.0)]
    record = stored(world, message_id)
    assert (record.status, record.attempts) == (Status.RETRYING, 5)
    (retried,) = record.events[1:]  # `retrying` five times for one reason: one event, counted
    assert (retried.status, retried.detail, retried.count) == (Status.RETRYING, "sinch_503", 5)


@pytest.mark.parametrize(
    ("jitter", "retry_after_s", "delay_s"),
    [
        ("ceiling", 0.5, 2.0),  # the backoff is longer: Retry-After is only a floor
        ("floor", 1.5, 1.5),
        ("floor", 45.0, 45.0),  # never shortened, not even by the cap
    ],
)
def test_retry_after_is_a_floor_under_the_backoff(
    monkeypatch: pytest.MonkeyPatch, jitter: str, retry_after_s: float, delay_s: float
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high if jitter == "ceiling" else low)
    world = Sending(sender_settings(RETRY_BASE_DELAY_S="2", RETRY_MAX_DELAY_S="10"))
    world.xms.on_send(Transient("sinch_503", retry_after_s=retry_after_s))

    answer = world.sender.submit(SMS, CALLBACK, TENANT).message

    assert world.queue.retries == [(answer.id, delay_s)]


@pytest.mark.usefixtures("jitter_at_ceiling")
@pytest.mark.parametrize(("retry_after_s", "delay_s"), [(None, 10.0), (3.0, 10.0), (25.0, 25.0)])
def test_a_lost_answer_waits_at_least_the_channels_settle_time(
    world: Sending, retry_after_s: float | None, delay_s: float
) -> None:
    world.xms.settle_s = 10.0
    world.xms.on_send(Transient("no_answer: ProtocolError", retry_after_s=retry_after_s, ambiguous=True))

    answer = world.sender.submit(SMS, CALLBACK, TENANT).message

    assert world.queue.retries == [(answer.id, delay_s)]  # the backoff alone would be 2 s


def test_sinchs_rate_limit_uses_up_no_attempt(world: Sending) -> None:
    slower = Transient("sinch_429", retry_after_s=1.0, rate_limited=True)
    world.xms.on_send(*[slower] * 5, Accepted(BATCH))  # more 429s than MAX_SEND_ATTEMPTS (3)

    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    for _ in range(5):
        world.sender.attempt(message_id)

    record = stored(world, message_id)
    assert (record.status, record.sinch_id, record.attempts) == (Status.SUBMITTED, BATCH, 1)
    assert len(world.xms.sent) == 6
    assert world.xms.called("find") == [], "a 429 is a clear no: nothing to look up"
    assert len(world.queue.retries) == 5 and world.queue.dead_letters == []


def test_a_429_holds_every_sender_off_for_its_retry_after(world: Sending) -> None:
    world.xms.on_send(Transient("sinch_429", retry_after_s=4.0, rate_limited=True))
    world.mms.on_send(Transient("E113", rate_limited=True))  # the MMS JSON API says no Retry-After

    world.sender.submit(SMS, CALLBACK, TENANT)
    world.sender.submit(MMS, CALLBACK, TENANT)

    assert world.rate.held_off == [(Api.XMS, 4.0), (Api.MMS_JSON, 1.0)]


def test_a_retry_after_of_hours_holds_the_other_senders_off_for_a_minute_only(world: Sending) -> None:
    world.xms.on_send(Transient("sinch_429", retry_after_s=7_200.0, rate_limited=True))

    world.sender.submit(SMS, CALLBACK, TENANT)

    assert world.rate.held_off == [(Api.XMS, 60.0)]
    [(_, delay)] = world.queue.retries
    assert delay >= 7_200.0, "the refused message itself waits what Sinch asked"


def test_other_transient_failures_do_not_hold_the_rate_off(world: Sending) -> None:
    retrying(world)
    assert world.rate.held_off == []


@pytest.mark.parametrize("draft", [SMS, MMS], ids=["xms", "mms-json"])
def test_without_room_in_the_rate_a_message_waits_in_the_queue_unsent_and_uncounted(
    world: Sending, draft: MessageDraft
) -> None:
    world.rate.wait_s = 7.5  # beyond the 1 s a send may wait for its turn

    answer = world.sender.submit(draft, CALLBACK, TENANT).message

    record = stored(world, answer.id)
    assert answer.status is Status.RETRYING
    assert (record.status, record.attempts, record.error_code) == (Status.RETRYING, 0, "rate_limited")
    assert world.xms.calls == [] and world.mms.calls == []
    [(queued_id, delay)] = world.queue.retries
    assert queued_id == answer.id and delay >= 7.5
    assert world.queue.dead_letters == []


def test_a_message_waiting_for_the_rate_comes_back_when_the_schedule_has_room_not_later(
    world: Sending,
) -> None:
    world.rate.wait_s = 1.2  # just past the 1 s a send may wait for its turn
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    for _ in range(19):
        world.sender.attempt(message_id)

    # No backoff spread on top: slots left empty while it waits are the plan's rate lost.
    assert [delay for _, delay in world.queue.retries] == [1.2] * 20


def test_a_message_waiting_for_the_rate_is_sent_once_there_is_room(world: Sending) -> None:
    world.rate.wait_s = 3.0
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    for _ in range(10):  # more turns without room than MAX_SEND_ATTEMPTS (3): none counts
        world.sender.attempt(message_id)
    assert world.xms.calls == [] and len(world.queue.retries) == 11

    world.rate.wait_s = 0.0
    world.xms.on_send(Accepted(BATCH))
    world.sender.attempt(message_id)

    record = stored(world, message_id)
    assert (record.status, record.attempts, record.error_code) == (Status.SUBMITTED, 1, None)
    assert world.xms.called("find") == [], "no attempt reached Sinch before: nothing to look up"
    assert len(world.xms.sent) == 1


def test_a_message_waiting_for_its_turn_keeps_its_place_in_the_queue(world: Sending) -> None:
    world.rate.wait_s = 7.5
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id

    assert world.queue.turns == {message_id: FakeRate.TURN}

    world.sender.attempt(message_id, world.queue.turns[message_id])

    assert world.rate.turns == [None, FakeRate.TURN], "it came back with its place"


def test_the_rate_is_asked_for_the_tenants_share_in_its_policy() -> None:
    world = Sending(tenants=FakeTenantStore(**{TENANT: TenantPolicy(rate_weight=3.0, rate_cap_per_s=5.0)}))
    world.xms.on_send(Accepted(BATCH))

    world.sender.submit(SMS, CALLBACK, TENANT)

    assert world.rate.shares == [RateShare(TENANT, weight=3.0, cap_per_s=5.0)]


def test_a_tenant_without_a_policy_item_has_the_default_share(world: Sending) -> None:
    world.xms.on_send(Accepted(BATCH))

    world.sender.submit(SMS, CALLBACK, "no-item-key")

    assert world.rate.shares == [RateShare("no-item-key")]


def test_a_second_attempt_takes_a_turn_for_its_lookup_too(world: Sending) -> None:
    message_id = retrying(world)
    world.xms.on_find(NotFound())
    world.xms.on_send(Accepted(BATCH))

    world.sender.attempt(message_id)

    assert world.rate.acquired == [(Api.XMS, 1), (Api.XMS, 2)]


def test_after_the_last_attempt_the_message_fails_and_is_dead_lettered_with_why(world: Sending) -> None:
    message_id = retrying(world)
    for _ in range(2):  # MAX_SEND_ATTEMPTS is 3
        world.xms.on_find(NotFound())
        world.xms.on_send(UNAVAILABLE)
        world.sender.attempt(message_id)

    late = world.sender.attempt(message_id)  # a duplicate of the last retry

    record = stored(world, message_id)
    assert (record.status, record.attempts, record.error_code, record.error_text) == (
        Status.FAILED,
        3,
        "retries_exhausted",
        "3 attempts; last error: sinch_503",
    )
    assert late.status is Status.FAILED
    assert len(world.xms.sent) == 3
    assert len(world.queue.retries) == 2
    (parked,) = world.queue.dead_letters
    assert parked.message_id == message_id
    assert parked.reason == "retries_exhausted: 3 attempts; last error: sinch_503"
    assert json.loads(parked.body) == {
        "kind": "failed",
        "messageId": message_id,
        "reason": "retries_exhausted",
        "lastError": "sinch_503",
    }


# --- never twice -------------------------------------------------------------------------------


def test_a_later_attempt_adopts_what_sinch_accepted_instead_of_sending_again(world: Sending) -> None:
    world.xms.on_send(LOST_ANSWER)
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    world.xms.on_find(Accepted(BATCH))

    answer = world.sender.attempt(message_id)

    assert (answer.status, answer.sinch_id) == (Status.SUBMITTED, BATCH)
    assert stored(world, message_id).sinch_id == BATCH
    assert [kind for kind, _ in world.xms.calls] == ["send", "find"]
    assert world.xms.called("find") == [message_id]  # looked up by our id, Sinch's client reference


def test_when_sinch_holds_nothing_the_retry_sends(world: Sending) -> None:
    message_id = retrying(world)
    world.xms.on_find(NotFound())
    world.xms.on_send(Accepted(BATCH))

    world.sender.attempt(message_id)

    assert [kind for kind, _ in world.xms.calls] == ["send", "find", "send"]
    assert stored(world, message_id).status is Status.SUBMITTED


@pytest.mark.parametrize(
    ("lookup", "reason"),
    [
        (Refused(403, "forbidden", "no", Refusal.FORBIDDEN), "lookup_refused_403"),
        (Transient("sinch_503"), "sinch_503"),
    ],
)
def test_a_lookup_without_a_clear_answer_sends_nothing_blind(
    world: Sending, lookup: LookupOutcome, reason: str
) -> None:
    world.xms.on_send(LOST_ANSWER)
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    world.xms.on_find(lookup)

    world.sender.attempt(message_id)

    assert len(world.xms.sent) == 1
    record = stored(world, message_id)
    assert (record.status, record.events[-1].detail) == (Status.RETRYING, reason)
    assert len(world.queue.retries) == 2


def test_an_api_without_lookups_sends_again_after_a_clear_failure(world: Sending) -> None:
    world.mms.on_send(UNAVAILABLE)  # Sinch answered: it does not hold the message
    message_id = world.sender.submit(MMS, CALLBACK, TENANT).message.id
    world.mms.on_find(CannotLookUp())
    world.mms.on_send(Accepted("mms-2"))

    world.sender.attempt(message_id)

    assert [kind for kind, _ in world.mms.calls] == ["send", "find", "send"]
    assert stored(world, message_id).sinch_id == "mms-2"


def test_an_api_without_lookups_never_sends_again_after_a_lost_answer(world: Sending) -> None:
    world.mms.on_send(LOST_ANSWER)
    message_id = world.sender.submit(MMS, CALLBACK, TENANT).message.id
    world.mms.on_find(CannotLookUp())

    answer = world.sender.attempt(message_id)  # its settle time passed without a postback

    record = stored(world, message_id)
    assert answer.status is record.status is Status.FAILED
    assert record.error_code == "sinch_outcome_unknown"
    assert record.error_text is not None and "not sent again" in record.error_text
    assert [kind for kind, _ in world.mms.calls] == ["send", "find"]
    assert len(world.queue.retries) == 1 and world.queue.dead_letters == []


def test_a_postback_within_the_settle_time_settles_a_lost_answer(world: Sending) -> None:
    world.mms.on_send(LOST_ANSWER)
    message_id = world.sender.submit(MMS, CALLBACK, TENANT).message.id
    world.store.transition(message_id, Status.DISPATCHED, code="N101")  # Sinch's postback

    answer = world.sender.attempt(message_id)  # the retry, once settle_s is over

    assert answer.status is stored(world, message_id).status is Status.DISPATCHED
    assert [kind for kind, _ in world.mms.calls] == ["send"]


def test_a_retry_while_another_sender_holds_the_message_is_kept_for_later(world: Sending) -> None:
    message_id = retrying(world)
    assert world.store.claim(message_id, 30) is not None  # another sender, mid-send

    answer = world.sender.attempt(message_id)

    assert answer.status is Status.RETRYING
    assert len(world.xms.calls) == 1, "nothing sent while the other sender holds it"
    assert world.queue.retries[-1] == (message_id, 10.0)  # a third of SEND_LEASE_S

    world.clock.advance(31)  # the other sender died: its lease ends
    world.xms.on_find(NotFound())
    world.xms.on_send(Accepted(BATCH))
    assert world.sender.attempt(message_id).status is Status.SUBMITTED


def test_the_same_request_submitted_twice_is_sent_once(world: Sending) -> None:
    world.xms.on_send(Accepted(BATCH))
    message_id = "6c0d3f4e-1a2b-5c3d-8e4f-5a6b7c8d9e0f"

    first = world.sender.submit(SMS, CALLBACK, TENANT, message_id).message
    second = world.sender.submit(SMS, CALLBACK, TENANT, message_id).message

    assert first.id == second.id == message_id
    assert second.status is Status.SUBMITTED
    assert len(world.xms.calls) == 1
    assert len(world.store.records()) == 1


def test_a_report_faster_than_sinchs_answer_keeps_its_status_and_the_batch_id_is_recorded(
    world: Sending,
) -> None:
    def delivered_meanwhile(message: OutboundMessage) -> SendOutcome:
        world.store.transition(message.reference, Status.DELIVERED, code=0)
        return Accepted(BATCH)

    world.xms.on_send(delivered_meanwhile)

    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id

    record = stored(world, message_id)
    assert (record.status, record.sinch_id) == (Status.DELIVERED, BATCH)
    assert [e.status for e in record.events] == [Status.ACCEPTED, Status.DELIVERED]


# --- cancelling --------------------------------------------------------------------------------


def test_a_message_waiting_for_its_retry_is_cancelled_here_and_never_sent(world: Sending) -> None:
    message_id = retrying(world)

    answer = world.sender.cancel(TENANT, message_id)
    after = world.sender.attempt(message_id)  # the retry that was queued

    assert answer.status is after.status is Status.CANCELLED
    record = stored(world, message_id)
    assert record.events[-1].detail == "cancelled before it reached Sinch"
    assert [kind for kind, _ in world.xms.calls] == ["send"]
    assert record.attempts == 1, "one request reached Sinch; cancelling is no attempt"
    assert record.error_code is None, "nothing waits any more"


def test_a_retrying_message_says_why_until_sinch_takes_it(world: Sending) -> None:
    message_id = retrying(world)

    waiting = stored(world, message_id)
    assert (waiting.error_code, waiting.events[-1].code) == ("sinch_503", "sinch_503")
    assert waiting.error_text is not None and "sent again" in waiting.error_text

    world.xms.on_find(NotFound())
    world.xms.on_send(Accepted(BATCH))
    world.sender.attempt(message_id)
    taken = stored(world, message_id)
    assert (taken.status, taken.error_code, taken.error_text) == (Status.SUBMITTED, None, None)


def test_a_message_being_sent_right_now_cannot_be_cancelled(world: Sending) -> None:
    message_id = retrying(world)
    world.store.claim(message_id, 30)

    with pytest.raises(Conflict) as refused:
        world.sender.cancel(TENANT, message_id)

    assert refused.value.retry_after_s == 5
    assert stored(world, message_id).status is Status.RETRYING


def test_another_tenants_message_is_not_found(world: Sending) -> None:
    message_id = retrying(world)

    with pytest.raises(MessageNotFound):
        world.sender.cancel("z9y8x7w6v5", message_id)
    assert stored(world, message_id).status is Status.RETRYING


def scheduled(world: Sending, draft: MessageDraft = SMS) -> str:
    return submitted(world, draft.model_copy(update={"send_at": utcnow() + timedelta(hours=1)}))


def test_a_scheduled_message_is_cancelled_at_sinch(world: Sending) -> None:
    message_id = scheduled(world)
    world.xms.on_cancel(Answered({"id": BATCH}))

    answer = world.sender.cancel(TENANT, message_id)

    assert answer.status is Status.CANCELLED
    assert world.xms.called("cancel") == [BATCH]
    assert stored(world, message_id).events[-1].detail == f"batch {BATCH} cancelled at Sinch"


def test_a_cancel_that_sinchs_own_report_overtook_is_the_same_outcome(world: Sending) -> None:
    message_id = scheduled(world)

    def reported_first(batch_id: str) -> Answered:
        world.store.transition(message_id, Status.CANCELLED, code=410)
        return Answered({"id": batch_id})

    world.xms.on_cancel(reported_first)

    assert world.sender.cancel(TENANT, message_id).status is Status.CANCELLED


def test_a_message_already_sent_cannot_be_cancelled(world: Sending) -> None:
    message_id = submitted(world)  # no sendAt: Sinch sends it at once

    with pytest.raises(Conflict) as refused:
        world.sender.cancel(TENANT, message_id)

    assert problem_kind(refused.value).status == 409
    assert world.xms.called("cancel") == []
    assert stored(world, message_id).status is Status.SUBMITTED


def test_a_cancel_sinch_refuses_is_a_conflict_and_changes_nothing(world: Sending) -> None:
    message_id = scheduled(world)
    world.xms.on_cancel(
        Refused(400, "syntax_constraint_violation", "Batch already dispatched", Refusal.MESSAGE)
    )

    with pytest.raises(Conflict, match="syntax_constraint_violation"):
        world.sender.cancel(TENANT, message_id)

    assert stored(world, message_id).status is Status.SUBMITTED


def test_an_api_that_cannot_cancel_answers_a_conflict(world: Sending) -> None:
    message_id = scheduled(world, MMS)
    world.mms.on_cancel(NotOffered())

    with pytest.raises(Conflict) as refused:
        world.sender.cancel(TENANT, message_id)

    assert problem_kind(refused.value).status == 409
    assert world.mms.called("cancel") == [BATCH]
    assert stored(world, message_id).status is Status.SUBMITTED


def test_a_cancel_sinch_did_not_answer_asks_to_try_again(world: Sending) -> None:
    message_id = scheduled(world)
    world.xms.on_cancel(Transient("sinch_503", retry_after_s=7))

    with pytest.raises(SinchUnavailable) as unavailable:
        world.sender.cancel(TENANT, message_id)

    assert unavailable.value.retry_after_s == 7
    assert stored(world, message_id).status is Status.SUBMITTED


# --- dry runs ----------------------------------------------------------------------------------


def test_a_dry_run_asks_the_channel_and_records_nothing(world: Sending) -> None:
    world.xms.on_dry_run(DryRun(2, (DryRunPart("12025550143", 2, "UNICODE", "Ünïcode text"),)))

    result = world.sender.dry_run(SMS)

    assert (result.channel, result.api, result.number_of_messages) == ("sms", Api.XMS, 2)
    assert [(r.to, r.segments, r.encoding, r.body) for r in result.recipients] == [
        (SMS.to, 2, "UNICODE", "Ünïcode text")
    ]
    (asked,) = world.xms.called("dry_run")
    assert isinstance(asked, OutboundMessage) and asked.webhook_url == ""  # no reports for it
    assert (world.xms.sent, world.store.records(), world.queue.retries) == ([], [], [])


def test_an_api_without_a_dry_run_is_answered_here(world: Sending) -> None:
    world.mms.on_dry_run(NotOffered())

    result = world.sender.dry_run(MMS)

    assert (result.channel, result.api, result.number_of_messages) == ("mms", Api.MMS_JSON, 1)
    assert [r.to for r in result.recipients] == [MMS.to]
    assert (world.mms.sent, world.store.records()) == ([], [])


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        (Transient("sinch_503"), SinchUnavailable),
        (Refused(403, "forbidden", "Not on this plan", Refusal.FORBIDDEN), SinchForbidden),
        (AuthFailed("401"), SinchMisconfigured),
    ],
)
def test_a_dry_run_sinch_did_not_answer_is_the_error_the_client_hears(
    world: Sending, outcome: Transient | Refused | AuthFailed, error: type[Exception]
) -> None:
    world.xms.on_dry_run(outcome)

    with pytest.raises(error):
        world.sender.dry_run(SMS)
    assert world.store.records() == []


def test_a_retry_after_a_stop_that_came_while_it_waited_is_not_sent(
    world: Sending, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = retrying(world)
    world.opt_outs.set(SMS.to, SENDER_NUMBER, opted_out=True)
    later = utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(sending, "utcnow", lambda: later)
    world.clock.advance(300)

    world.sender.attempt(message_id)

    assert len(world.xms.sent) == 1, "only the first attempt, before the STOP"
    record = stored(world, message_id)
    assert record.status is Status.REJECTED and record.error_code == "recipient_opted_out"


def test_a_message_back_before_its_turn_waits_again_with_nothing_claimed_read_or_written(
    world: Sending,
) -> None:
    world.rate.wait_s = 7.5
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    turn, waiting = world.queue.turns[message_id], world.queue.waiting[message_id]
    assert (waiting.key, waiting.tenant_id, waiting.calls) == (Api.XMS, TENANT, 1)
    parked = stored(world, message_id)

    for _ in range(5):
        world.sender.attempt_in_turn(message_id, turn, waiting)

    assert stored(world, message_id) == parked, "nothing written while it waits for its turn"
    assert not world.store.held(message_id), "and nothing claimed"
    assert world.rate.asked_waits == [turn] * 5 and world.rate.turns == [None], "no slot asked for"
    assert len(world.queue.retries) == 6 and world.queue.waiting[message_id] == waiting
    assert world.xms.calls == []

    world.rate.wait_s = 0.0
    world.xms.on_send(Accepted(BATCH))
    world.sender.attempt_in_turn(message_id, turn, waiting)

    assert stored(world, message_id).status is Status.SUBMITTED
    assert world.rate.turns == [None, turn], "its turn come, it takes its slot with its place"


def test_a_message_waiting_for_its_turn_past_its_age_limit_is_read_and_ends_too_old(world: Sending) -> None:
    world.rate.wait_s = 7.5
    message_id = world.sender.submit(SMS, CALLBACK, TENANT).message.id
    turn, waiting = world.queue.turns[message_id], world.queue.waiting[message_id]
    assert waiting.until == pytest.approx(time.time() + world.settings.max_message_age_s, abs=5)

    world.sender.attempt_in_turn(message_id, turn, replace(waiting, until=time.time() - 1))

    assert world.rate.asked_waits == [], "past its limit it is read, not parked again"
    assert world.rate.turns == [None, turn]
