"""Repeated events fold into one with a count: in the message store (the fake, with the
repository's rules), through report intake, and without a status callback for a fold."""

from datetime import UTC, datetime, timedelta

from sinch_gateway.domain.content import SmsContent
from sinch_gateway.domain.message import (
    MAX_EVENTS,
    STATUS_MOVES,
    Change,
    MessageRecord,
    StatusEvent,
    compacted,
)
from sinch_gateway.domain.status import Status, Transition
from sinch_gateway.usecases.status_callbacks import CallbackDispatch
from tests.unit.fakes import FakeMessageStore
from tests.unit.test_status_callbacks import URL, FakeCallbackQueue, image
from tests.unit.test_usecase_report_intake import Reports, report

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def accepted() -> MessageRecord:
    return MessageRecord(
        tenant_id="k1l2m3n4o5",
        to="+12025550143",
        content=SmsContent(text="Hi"),
        status_callback_url=URL,
        events=[StatusEvent(status=Status.ACCEPTED, at=T0)],
    ).expire_after(90)


def retried(store: FakeMessageStore, message_id: str, code: str, at: datetime) -> None:
    moved = store.transition(
        message_id, Status.RETRYING, code=code, detail=code, at=at, change=Change(error_code=code)
    )
    assert moved is Transition.MOVED


def test_retries_for_one_reason_are_one_event_with_a_count_and_the_last_time() -> None:
    store = FakeMessageStore()
    message = store.seed(accepted())
    for n in range(40):
        retried(store, message.id, "rate_limited", T0 + timedelta(seconds=n))

    record = store.get(message.id)
    assert record is not None
    assert [e.model_dump(mode="json") for e in record.events] == [
        {"status": "accepted", "at": "2026-12-01T10:00:00Z"},
        {
            "status": "retrying",
            "at": "2026-12-01T10:00:00Z",
            "code": "rate_limited",
            "detail": "rate_limited",
            "count": 40,
            "lastAt": "2026-12-01T10:00:39Z",
        },
    ]


def test_events_that_alternate_stop_at_max_events_and_a_status_move_is_still_kept() -> None:
    store = FakeMessageStore()
    message = store.seed(accepted())
    for n in range(3000):  # codes alternating: nothing folds
        retried(store, message.id, ("rate_limited", "sinch_503")[n % 2], T0 + timedelta(seconds=n))
    full = store.get(message.id)
    assert full is not None and len(full.events) == MAX_EVENTS
    assert (full.status, full.error_code) == (Status.RETRYING, "sinch_503"), "the write itself is done"

    for status in (Status.SUBMITTED, Status.QUEUED, Status.DISPATCHED, Status.DELIVERED):
        assert store.transition(message.id, status) is Transition.MOVED

    done = store.get(message.id)
    assert done is not None and len(done.events) == MAX_EVENTS + STATUS_MOVES
    assert [e.status for e in done.events[-STATUS_MOVES:]] == [
        Status.SUBMITTED,
        Status.QUEUED,
        Status.DISPATCHED,
        Status.DELIVERED,
    ]


def test_a_report_sent_again_and_again_is_one_stale_event_and_its_nonces_are_bounded() -> None:
    reports = Reports()
    assert reports.post(report(reports.message, "Delivered", 0)) == "moved"
    for _ in range(MAX_EVENTS + 20):  # each signed anew: a new nonce each time
        assert reports.post(report(reports.message, "Delivered", 0)) == "stale"

    events = reports.stored().events
    assert [(e.status, e.code, e.stale, e.count) for e in events[2:]] == [
        (Status.DELIVERED, 0, None, None),
        (Status.DELIVERED, 0, True, MAX_EVENTS - 1),  # one nonce went with the move itself
    ]
    assert len(reports.store.nonces[reports.message]) == MAX_EVENTS


def test_a_fold_is_no_status_change_and_makes_no_callback() -> None:
    queue = FakeCallbackQueue()
    dispatch = CallbackDispatch(queue)
    first = accepted().model_copy(update={"status": Status.RETRYING})
    first.events.append(StatusEvent(status=Status.RETRYING, at=T0, code="rate_limited"))
    folded = first.model_copy(
        update={
            "events": [
                first.events[0],
                first.events[1].model_copy(update={"count": 2, "last_at": T0 + timedelta(seconds=1)}),
            ]
        }
    )

    assert dispatch.handle(image(accepted()), image(first)), "accepted to retrying is a change"
    assert not dispatch.handle(image(first), image(folded))
    assert [(q.callback.previous_status, q.callback.status) for q in queue.queued] == [
        (Status.ACCEPTED, Status.RETRYING)
    ]


def test_events_gathered_before_folding_are_compacted_as_folding_would_have_kept_them() -> None:
    accepted = StatusEvent(status=Status.ACCEPTED, at=T0)
    runs = [
        StatusEvent(status=Status.RETRYING, at=T0 + timedelta(seconds=n), code=("a", "b")[n // 3 % 2])
        for n in range(3 * 2 * MAX_EVENTS)  # runs of three, alternating: 2 x MAX_EVENTS runs
    ]
    cancelled = StatusEvent(status=Status.CANCELLED, at=T0 + timedelta(hours=1))

    kept = compacted([accepted, *runs, cancelled])

    assert len(kept) == MAX_EVENTS + 1 and kept[-1] == cancelled, "past MAX_EVENTS: status moves only"
    assert [(e.code, e.count, e.last_at) for e in kept[1:3]] == [
        ("a", 3, T0 + timedelta(seconds=2)),
        ("b", 3, T0 + timedelta(seconds=5)),
    ]
    assert compacted(kept) == kept, "what is kept under these bounds stays as it is"
