"""Status callbacks on fakes: which writes make a callback, how it is signed, and what a delivery
does with each kind of answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import StreamRecord

from sinch_gateway.config import CallbackSettings, SettingsError, load
from sinch_gateway.data.messages import to_item
from sinch_gateway.domain.content import SmsContent
from sinch_gateway.domain.errors import InvalidRequest
from sinch_gateway.domain.message import MessageRecord, StatusEvent
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.status_callbacks import (
    QueuedCallback,
    StatusCallback,
    signature,
    signatures,
    status_change,
)
from sinch_gateway.domain.tenants import Tenant, TenantPolicy
from sinch_gateway.outbound.addresses import check_address
from sinch_gateway.outbound.client import Unreachable
from sinch_gateway.usecases.callback_breaker import ReceiverBreaker
from sinch_gateway.usecases.status_callbacks import (
    Backoff,
    CallbackDelivery,
    CallbackDispatch,
    CallbackFailed,
    QueuedRecord,
)
from sinch_gateway.wiring import callback_policy
from tests.unit.fakes import Clock, FakeReceiverHealth, FakeTenantStore

URL = "https://hooks.example.com/sms"
TENANT = "t-1"
OTHER_TENANT = "t-2"
SECRET = "s3cr3t-callback-key"
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
MESSAGE_ID = "0b9f2c9e-3c1a-4d8e-9a51-7b2f0c6e1d42"


def record(status: Status, *events: StatusEvent, url: str | None = URL) -> MessageRecord:
    return MessageRecord(
        id=MESSAGE_ID,
        tenant_id=TENANT,
        to="+12025550143",
        content=SmsContent(text="Hi"),
        client_reference="order-7",
        status_callback_url=url,
        status=status,
        events=list(events) or [StatusEvent(status=status, at=AT)],
    )


def test_the_first_status_has_no_previous_one() -> None:
    change = status_change(None, record(Status.ACCEPTED))
    assert change is not None
    assert json.loads(change.callback.body()) == {
        "id": MESSAGE_ID,
        "status": "accepted",
        "previousStatus": None,
        "at": "2026-12-01T10:00:00Z",
        "code": None,
        "clientReference": "order-7",
    }
    assert (change.url, change.tenant_id) == (URL, TENANT)


def test_a_status_change_carries_its_events_time_and_code_not_a_stale_reports() -> None:
    first = StatusEvent(status=Status.SUBMITTED, at=AT)
    delivered = StatusEvent(status=Status.DELIVERED, at=AT.replace(minute=5), code=0)
    stale = StatusEvent(status=Status.DELIVERED, at=AT.replace(minute=9), code=0, stale=True)
    change = status_change(record(Status.SUBMITTED, first), record(Status.DELIVERED, first, delivered, stale))
    assert change is not None
    assert (change.callback.previous_status, change.callback.status) == (Status.SUBMITTED, Status.DELIVERED)
    assert (change.callback.at, change.callback.code) == (delivered.at, 0)
    assert change.deduplication_id == f"{MESSAGE_ID}:delivered"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (record(Status.RETRYING), record(Status.RETRYING)),  # another retry: no change
        (record(Status.DELIVERED), record(Status.DELIVERED)),  # a stale report's event appended
        (None, record(Status.ACCEPTED, url=None)),  # no callback asked for
        (record(Status.SUBMITTED, url=None), record(Status.DELIVERED, url=None)),
    ],
)
def test_a_write_that_changes_no_status_or_has_no_url_makes_no_callback(
    old: MessageRecord | None, new: MessageRecord
) -> None:
    assert status_change(old, new) is None


def test_the_signature_is_the_contracts() -> None:
    # HMAC-SHA256 keyed "s3cr3t-callback-key" of "1795824929.{}", as `openssl dgst -sha256 -hmac` gives it
    assert signature(SECRET, b"{}", 1795824929) == (
        "t=1795824929,v1=d520cec6be5a1e86c5c293b9ad793f188f99c7bccabda5c1cd662355bce2fbc1"
    )


# --- dispatch: from the stream's images -----------------------------------------------------------


@dataclass
class FakeCallbackQueue:
    queued: list[QueuedCallback] = field(default_factory=list)
    postponed: list[tuple[str, int]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)

    def enqueue(self, callback: QueuedCallback) -> None:
        self.queued.append(callback)

    def postpone(self, receipt_handle: str, delay_s: int) -> None:
        self.postponed.append((receipt_handle, delay_s))

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead.append((body, reason))


def image(message: MessageRecord) -> dict[str, Any]:
    """The record as a stream image shows it, deserialised as the handler has Powertools do it."""
    item = message.model_dump(mode="json", exclude_none=True)
    item["statusRank"] = message.status.rank
    return StreamRecord({"NewImage": to_item(item)}).new_image


def test_dispatch_queues_a_change_and_ignores_removals_and_other_items() -> None:
    queue = FakeCallbackQueue()
    dispatch = CallbackDispatch(queue)
    assert dispatch.handle(None, image(record(Status.ACCEPTED)))
    assert not dispatch.handle(image(record(Status.DELIVERED)), None)  # expired by its TTL
    assert not dispatch.handle(None, {"id": "rate#xms", "statusCallbackUrl": URL})  # no message
    assert not dispatch.handle(None, {"id": "x", "statusRank": 0, "statusCallbackUrl": URL})  # garbled
    assert [q.callback.status for q in queue.queued] == [Status.ACCEPTED]


# --- delivery -----------------------------------------------------------------------------------


@dataclass
class FakeReceiver:
    answers: list[int | Exception] = field(default_factory=list)
    posted: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    takes_s: float = 0.0  # how long each POST runs (on the delivery's clock)
    clock: Clock | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, url: str, content: bytes, headers: Mapping[str, str]) -> int:
        with self._lock:
            self.posted.append((url, content, dict(headers)))
            answer = self.answers.pop(0) if self.answers else 204
        if self.clock is not None:
            self.clock.advance(self.takes_s)
        if isinstance(answer, Exception):
            raise answer
        return answer


HANGS = Unreachable("the URL could not be reached")  # what a POST that ran out of time raises
TIMEOUT_S = 5.0


@dataclass
class Delivery:
    """A CallbackFunction container; several share a `health` store as containers share its item."""

    receiver: FakeReceiver = field(default_factory=FakeReceiver)
    queue: FakeCallbackQueue = field(default_factory=FakeCallbackQueue)
    clock: Clock = field(default_factory=lambda: Clock(1_800_000_000.0))
    secret: str | None = SECRET
    health: FakeReceiverHealth = field(default_factory=FakeReceiverHealth)
    tenants: FakeTenantStore = field(init=False)

    def __post_init__(self) -> None:
        self.receiver.clock = self.clock
        self.tenants = tenants = FakeTenantStore(**{TENANT: TenantPolicy(), OTHER_TENANT: TenantPolicy()})
        tenants.set_secret(TENANT, self.secret)
        tenants.set_secret(OTHER_TENANT, SECRET)
        backoff = Backoff(base_s=10, max_delay_s=3600, max_age_s=86400)
        self.breaker = ReceiverBreaker(self.health, backoff.delay, probe_s=2 * TIMEOUT_S)
        self.use_case = CallbackDelivery(
            tenants,
            self.queue,
            self.receiver,
            backoff,
            self.breaker,
            slow_s=TIMEOUT_S / 2,
            clock=self.clock,
        )

    def handle(self, body: str | None = None, *, receive_count: int = 1, age_s: float = 0) -> None:
        self.use_case.handle(body or BODY, "rh-1", self.clock() - age_s, receive_count)


def callback_body(
    message_id: str = MESSAGE_ID, *, url: str = URL, tenant: str = TENANT, reference: str | None = None
) -> str:
    """A queued callback's body, as dispatch writes it."""
    return QueuedCallback(
        url=url,
        tenant_id=tenant,
        callback=StatusCallback(
            id=message_id,
            status=Status.DELIVERED,
            previous_status=Status.SUBMITTED,
            at=AT,
            client_reference=reference,
        ),
    ).queue_body()


BODY = callback_body()


def test_a_callback_is_posted_signed_at_the_time_it_is_sent() -> None:
    delivery = Delivery()
    delivery.handle()
    ((url, content, headers),) = delivery.receiver.posted
    assert url == URL and json.loads(content)["status"] == "delivered"
    assert headers["X-Gateway-Signature"] == signature(SECRET, content, 1_800_000_000)
    assert headers["Content-Type"] == "application/json"
    assert delivery.queue.postponed == []
    assert delivery.queue.dead == []


@pytest.mark.parametrize("answer", [500, 429, 302, 404, Unreachable("the URL could not be reached")])
def test_anything_but_a_2xx_comes_back_after_a_backoff(answer: int | Exception) -> None:
    delivery = Delivery(FakeReceiver([answer]))
    with pytest.raises(CallbackFailed):
        delivery.handle(receive_count=3)
    ((handle, delay),) = delivery.queue.postponed
    assert handle == "rh-1" and 20 <= delay <= 40  # half to all of 10 * 2^2
    assert delivery.queue.dead == []


def test_the_backoff_grows_to_its_cap_and_is_never_under_a_second() -> None:
    backoff = Backoff(base_s=10, max_delay_s=3600, max_age_s=86400)
    assert all(1800 <= backoff.delay(n) <= 3600 for n in (10, 40, 10_000))
    assert Backoff(base_s=0.1, max_delay_s=3600, max_age_s=86400).delay(1) == 1


def test_a_callback_that_outlives_its_24_hours_goes_to_the_dead_letter_queue() -> None:
    delivery = Delivery(FakeReceiver([503]))
    delivery.handle(receive_count=40, age_s=86400 - 60)  # the next wait would pass the 24 h
    ((body, reason),) = delivery.queue.dead
    assert body == BODY and "86400" in reason and "HTTP 503" in reason
    assert delivery.queue.postponed == []


@pytest.mark.parametrize(("body", "secret"), [(BODY, None), ("not json", SECRET), ('{"url": 1}', SECRET)])
def test_what_cannot_be_signed_or_read_is_dead_lettered_and_not_posted(body: str, secret: str | None) -> None:
    delivery = Delivery(secret=secret)
    delivery.handle(body)
    assert delivery.receiver.posted == []
    assert [b for b, _ in delivery.queue.dead] == [body]


def queued(sqs_id: str, group: str) -> QueuedRecord:
    return QueuedRecord(sqs_id, group, BODY, f"rh-{sqs_id}", 1_800_000_000.0, 1)


def test_after_a_failure_the_same_messages_later_callbacks_wait_as_long_and_others_go_on() -> None:
    delivery = Delivery(FakeReceiver([500, 204]))
    failed = delivery.use_case.handle_batch([queued("a1", "A"), queued("b1", "B"), queued("a2", "A")])
    assert failed == ["a1", "a2"]
    assert len(delivery.receiver.posted) == 2  # a1 and b1; a2 was not tried
    (first, second) = delivery.queue.postponed
    assert (first[0], second[0]) == ("rh-a1", "rh-a2") and first[1] == second[1]


def test_an_unexpected_error_fails_the_group_and_leaves_its_visibility_alone() -> None:
    delivery = Delivery(FakeReceiver([RuntimeError("DynamoDB is down")]))
    failed = delivery.use_case.handle_batch([queued("a1", "A"), queued("a2", "A"), queued("b1", "B")])
    assert failed == ["a1", "a2"]
    assert delivery.queue.postponed == []


# --- settings -----------------------------------------------------------------------------------

CALLBACK_ENV = {
    "MESSAGES_TABLE": "m",
    "TENANTS_TABLE": "t",
    "CALLBACK_QUEUE_URL": "q",
    "CALLBACK_DEAD_LETTER_QUEUE_URL": "d",
}


def test_the_callback_address_switches_come_from_the_environment() -> None:
    local = load(
        CallbackSettings,
        {**CALLBACK_ENV, "ALLOW_HTTP_CALLBACKS": "true", "CALLBACK_ALLOWED_PRIVATE_HOSTS": "127.0.0.1:*"},
    )
    check_address("http://127.0.0.1:45678/cb", callback_policy(local), "statusCallbackUrl")
    deployed = load(CallbackSettings, CALLBACK_ENV)
    with pytest.raises(InvalidRequest):
        check_address("http://127.0.0.1:45678/cb", callback_policy(deployed), "statusCallbackUrl")
    assert (deployed.callback_max_age_s, deployed.callback_retry_base_s) == (86400, 10)


def test_a_port_excluded_with_a_bang_is_refused_though_host_star_allows_the_others() -> None:
    allowed = "127.0.0.1:*, !127.0.0.1:4010,!127.0.0.1:4566"
    local = load(
        CallbackSettings,
        {**CALLBACK_ENV, "ALLOW_HTTP_CALLBACKS": "true", "CALLBACK_ALLOWED_PRIVATE_HOSTS": allowed},
    )
    check_address("http://127.0.0.1:45678/cb", callback_policy(local), "statusCallbackUrl")
    for url in ("http://127.0.0.1:4010/_sim/reset", "http://127.0.0.1:4566/moto-api/reset"):
        with pytest.raises(InvalidRequest) as refused:
            check_address(url, callback_policy(local), "statusCallbackUrl")
        assert [field for field, _ in refused.value.errors] == ["statusCallbackUrl"], url


def test_a_backoff_past_what_sqs_can_hide_a_message_for_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="CALLBACK_RETRY_MAX_DELAY_S"):
        load(CallbackSettings, {**CALLBACK_ENV, "CALLBACK_RETRY_MAX_DELAY_S": "50000"})
    with pytest.raises(SettingsError, match="CALLBACK_QUEUE_URL"):
        load(CallbackSettings, {k: v for k, v in CALLBACK_ENV.items() if k != "CALLBACK_QUEUE_URL"})


# --- a rotated callback secret -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grace_left_s", "signed_with"), [(3600, ["new", "old"]), (0, ["new"]), (-1, ["new"])]
)
def test_during_a_rotations_grace_a_callback_carries_a_signature_for_each_secret(
    grace_left_s: int, signed_with: list[str]
) -> None:
    now = 1_800_000_000
    delivery = Delivery(clock=Clock(float(now)))
    delivery.tenants.put(
        Tenant(
            tenant_id=TENANT,
            name="acme",
            callback_secret="new",
            previous_callback_secret="old",
            previous_callback_secret_until=datetime.fromtimestamp(now + grace_left_s, UTC),
        )
    )

    delivery.handle()

    ((_, content, headers),) = delivery.receiver.posted
    header = headers["X-Gateway-Signature"]
    assert header == signatures(signed_with, content, now)
    assert header.split(",") == [f"t={now}", *(signature(s, content, now).split(",")[1] for s in signed_with)]


# --- characters SQS refuses ---------------------------------------------------------------------


def sqs_takes(text: str) -> bool:
    """What SendMessage accepts in a body or a string attribute (SQS's documented set)."""
    allowed = [(0x20, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF)]
    return all(c in "\t\n\r" or any(low <= ord(c) <= high for low, high in allowed) for c in text)


@pytest.mark.parametrize(
    "reference",
    ["order-\uffff", "\ufffe", "lone \ud800", "nul\x00 vt\x0b", "caf\u00e9 \U0001f600", "\udfff\ud83d"],
)
def test_a_reference_sqs_would_refuse_still_queues_and_reaches_the_receiver_intact(reference: str) -> None:
    queue = FakeCallbackQueue()
    change = record(Status.ACCEPTED).model_copy(update={"client_reference": reference})
    assert CallbackDispatch(queue).handle(None, image(change))
    (queued,) = queue.queued
    body = queued.queue_body()
    assert sqs_takes(body) and body.isascii()
    assert QueuedCallback.from_queue_body(body).callback.client_reference == reference

    delivery = Delivery()
    delivery.handle(body)
    ((_, content, _),) = delivery.receiver.posted
    assert json.loads(content)["clientReference"] == reference
