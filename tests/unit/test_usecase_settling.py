"""Statuses that settle (usecases.settling) on fakes: a message Sinch accepted ends final even when
its delivery report never comes, looked up at Sinch where its API can be asked, expired at its
expireAt where it cannot or Sinch has no final word."""

from datetime import datetime, timedelta

import pytest

from sinch_gateway.domain.content import MmsSlidesContent, Slide, SmsContent
from sinch_gateway.domain.message import MessageDraft, MessageRecord, StatusEvent, utcnow
from sinch_gateway.domain.outcomes import Accepted, NotFound, Transient
from sinch_gateway.domain.reports import StatusReport
from sinch_gateway.domain.status import Status
from sinch_gateway.usecases import settling
from tests.unit.fakes import Sending, sender_settings

TENANT = "k1l2m3n4o5"
WEBHOOK = "https://api.example.com/v1-stage/v1/webhooks/sinch/delivery-reports"
SMS = MessageDraft(to="+12025550143", content=SmsContent(text="Your order has shipped"))
MMS = MessageDraft(
    to="+12025550144",
    content=MmsSlidesContent(slides=(Slide(text="Spring sale"),), subject="Sale", fallback_text="Sale"),
)
BATCH = "01HZX3K9Q7B2M4N6P8R0S2T4V6"
GRACE_S = 600


@pytest.fixture
def world() -> Sending:
    return Sending(sender_settings(REPORT_GRACE_S=str(GRACE_S)))


def accepted(world: Sending, draft: MessageDraft = SMS) -> MessageRecord:
    channel = world.xms if isinstance(draft.content, SmsContent) else world.mms
    channel.on_send(Accepted(BATCH))
    message_id = world.sender.submit(draft, WEBHOOK, TENANT).message.id
    record = world.store.get(message_id)
    assert record is not None and record.status is Status.SUBMITTED
    return record


def at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    monkeypatch.setattr(settling, "utcnow", lambda: when)


def report(status: Status, code: int) -> StatusReport:
    return StatusReport("recipient_delivery_report_sms", BATCH, None, status, code, utcnow())


def current(world: Sending, message_id: str) -> MessageRecord:
    record = world.store.get(message_id)
    assert record is not None
    return record


def test_sinch_taking_a_message_queues_its_settle_check_after_the_grace(world: Sending) -> None:
    record = accepted(world)

    assert world.queue.settle_checks == [(record.id, GRACE_S)]


def test_a_scheduled_message_is_checked_the_grace_after_its_send_at(world: Sending) -> None:
    record = accepted(world, SMS.model_copy(update={"send_at": utcnow() + timedelta(hours=2)}))

    ((message_id, delay_s),) = world.queue.settle_checks
    assert message_id == record.id and 2 * 3600 + GRACE_S - 5 < delay_s <= 2 * 3600 + GRACE_S


def test_a_message_whose_final_report_came_is_left_alone_without_asking_sinch(world: Sending) -> None:
    record = accepted(world)
    world.store.advance(record.id, StatusEvent(status=Status.DELIVERED, at=utcnow(), code=0))
    world.queue.settle_checks.clear()

    world.settler.settle(record.id)

    assert world.xms.called("report") == []
    assert world.queue.settle_checks == []
    assert current(world, record.id).status is Status.DELIVERED


def test_a_lost_final_report_is_found_by_the_lookup_and_the_message_delivered(world: Sending) -> None:
    record = accepted(world)
    world.queue.settle_checks.clear()
    world.xms.on_report(report(Status.DELIVERED, 0))

    world.settler.settle(record.id)

    assert world.xms.called("report") == [f"{BATCH}/{record.to}"]
    settled = current(world, record.id)
    assert settled.status is Status.DELIVERED
    assert (settled.events[-1].status, settled.events[-1].detail) == (Status.DELIVERED, settling.LOOKED_UP)
    assert world.queue.settle_checks == [], "final: no further check"


def test_a_message_still_on_its_way_is_checked_again_later_each_wait_as_long_as_its_age(
    world: Sending, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = accepted(world)
    world.queue.settle_checks.clear()
    world.xms.on_report(report(Status.DISPATCHED, 401))
    at(monkeypatch, record.created_at + timedelta(hours=2))

    world.settler.settle(record.id)

    assert current(world, record.id).status is Status.DISPATCHED
    assert world.queue.settle_checks == [(record.id, 2 * 3600)]


@pytest.mark.parametrize("answer", [NotFound(), Transient("sinch_503"), report(Status.DISPATCHED, 401)])
def test_no_final_word_by_its_expiry_ends_it_expired_no_final_report(
    world: Sending, monkeypatch: pytest.MonkeyPatch, answer: object
) -> None:
    record = accepted(world, SMS.model_copy(update={"expire_at": utcnow() + timedelta(hours=1)}))
    world.queue.settle_checks.clear()
    world.xms.on_report(answer)  # type: ignore[arg-type]
    at(monkeypatch, record.expires_at + timedelta(seconds=GRACE_S))

    world.settler.settle(record.id)

    ended = current(world, record.id)
    assert (ended.status, ended.error_code) == (Status.EXPIRED, settling.NO_FINAL_REPORT)
    assert ended.events[-1].code == settling.NO_FINAL_REPORT
    assert world.queue.settle_checks == []


def test_the_last_check_before_the_expiry_comes_at_the_deadline_not_after_it(
    world: Sending, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = accepted(world, SMS.model_copy(update={"expire_at": utcnow() + timedelta(hours=1)}))
    world.queue.settle_checks.clear()
    world.xms.on_report(NotFound())
    at(monkeypatch, record.created_at + timedelta(minutes=50))

    world.settler.settle(record.id)

    ((_, delay_s),) = world.queue.settle_checks
    assert delay_s == pytest.approx(600 + 600, abs=2)  # 10 min to expireAt, then the grace


def test_an_mms_json_message_is_never_looked_up_and_ends_expired_at_its_expiry(
    world: Sending, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = accepted(world, MMS)
    world.queue.settle_checks.clear()

    world.settler.settle(record.id)
    assert world.queue.settle_checks and current(world, record.id).status is Status.SUBMITTED
    at(monkeypatch, record.expires_at + timedelta(seconds=GRACE_S))
    world.settler.settle(record.id)

    assert world.mms.called("report") == [], "the MMS JSON API has no lookup"
    ended = current(world, record.id)
    assert (ended.status, ended.error_code) == (Status.EXPIRED, settling.NO_FINAL_REPORT)
    assert "no lookup" in (ended.error_text or "")


def test_a_lookup_waits_for_room_in_the_shared_rate(world: Sending) -> None:
    record = accepted(world)
    world.queue.settle_checks.clear()
    world.rate.wait_s = 3.0

    world.settler.settle(record.id)

    assert world.xms.called("report") == []
    assert world.queue.settle_checks == [(record.id, 3.0)]


def test_a_message_gone_with_its_ttl_is_nothing_to_settle(world: Sending) -> None:
    world.settler.settle("0b0e2a7e-0000-4000-8000-000000000000")

    assert world.queue.settle_checks == [] and world.xms.calls == []


def test_one_check_of_the_messages_one_call_handed_over_checks_the_pending_again_together(
    world: Sending,
) -> None:
    """A batch's call hands many messages over: one settle body lists them all, and those still
    pending go back in one body, not one SQS message each."""
    records = [accepted(world, SMS.model_copy(update={"to": f"+1202555014{i}"})) for i in range(3)]
    world.store.advance(records[0].id, StatusEvent(status=Status.DELIVERED, at=utcnow(), code=0))
    world.xms.on_report(report(Status.DISPATCHED, 401), report(Status.DELIVERED, 0))

    world.settler.settle_all([r.id for r in records])

    assert world.xms.called("report") == [f"{BATCH}/{r.to}" for r in records[1:]], "none for the final one"
    assert [current(world, r.id).status for r in records] == [
        Status.DELIVERED,
        Status.DISPATCHED,
        Status.DELIVERED,
    ]
    ((again, delay_s),) = world.queue.settle_bodies
    assert again == (records[1].id,) and delay_s >= GRACE_S


def test_a_check_of_many_messages_puts_those_it_did_not_reach_back_when_it_had_its_turn(
    world: Sending,
) -> None:
    """Lookups wait for the rate: a call's thousand lost reports must not hold the function."""
    records = [accepted(world, SMS.model_copy(update={"to": f"+1202555014{i}"})) for i in range(3)]

    def slow(_: str) -> StatusReport:
        world.clock.advance(world.settings.sinch_rate_wait_s)  # this lookup waited a whole turn
        return report(Status.DELIVERED, 0)

    world.xms.on_report(slow)

    world.settler.settle_all([r.id for r in records])

    assert len(world.xms.called("report")) == 1
    assert current(world, records[0].id).status is Status.DELIVERED
    assert world.queue.settle_bodies == [((records[1].id, records[2].id), 0.0)]
