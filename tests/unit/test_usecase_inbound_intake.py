"""InboundIntake and the opt-out check against in-memory fakes: a STOP (in any of Sinch's words,
any case) stops sends to that number from that sender number, a START lets them through again,
each inbound message goes to the tenant whose message it answers, and a refused callback writes
nothing."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from sinch_gateway.api.messages import MessagesEndpoint
from sinch_gateway.api.models import SendMessageRequest
from sinch_gateway.data.inbound import inbound_item
from sinch_gateway.domain.content import SmsContent
from sinch_gateway.domain.errors import InvalidInbound, InvalidRequest, Unauthenticated
from sinch_gateway.domain.inbound import (
    MAX_MEDIA_BYTES,
    MAX_STORED_BYTES,
    Action,
    InboundMedia,
    action_of,
    kept_media,
)
from sinch_gateway.domain.message import MessageRecord
from sinch_gateway.domain.outcomes import Accepted
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.domain.webhook_auth import WebhookProof
from sinch_gateway.media.preflight import MediaInfo
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.inbound_intake import InboundIntake
from sinch_gateway.usecases.send_message import SendMessage
from sinch_gateway.usecases.webhook_authenticator import WebhookAuthenticator
from tests.unit.fakes import (
    Clock,
    FakeInboundStore,
    FakeMediaStore,
    FakeOptOuts,
    FakeSecretSource,
    FakeTemplateStore,
    FakeTenantStore,
    Sending,
    basic_proof,
    metrics_dropped,
    signed_proof,
)

SECRET = "unit-webhook-secret"
BASIC = "sinch-callbacks:s3cret-pa55"
SIGNED_AT = 1_795_000_000
TENANT, OTHER_TENANT = "k1l2m3n4o5", "z9y8x7w6v5"
HANDSET = "+12025550143"
SENDER = "+12025550100"
CALLBACK = "https://api.example.com/prod/v1/webhooks/sinch/delivery-reports"


def mo(body: str, *, reference: str | None = None, at: str = "2026-11-23T19:00:03.120Z", **extra: Any) -> str:
    message = {
        "type": "mo_text",
        "id": uuid.uuid4().hex[:26].upper(),
        "from": HANDSET,
        "to": SENDER.removeprefix("+"),  # Sinch writes our number without its +
        "body": body,
        "received_at": at,
        "client_reference": reference,
        **extra,
    }
    return json.dumps({k: v for k, v in message.items() if v is not None})


def signed(raw: str, *, nonce: str | None = None, at: int = SIGNED_AT) -> WebhookProof:
    return signed_proof(SECRET, raw, at=at, nonce=nonce)


@dataclass
class Gateway:
    """The inbound intake and the send use case on fakes sharing one opt-out store."""

    sending: Sending = field(default_factory=Sending)
    opt_outs: FakeOptOuts = field(default_factory=FakeOptOuts)
    sender_number: str | None = SENDER
    inbound: FakeInboundStore = field(init=False)

    def __post_init__(self) -> None:
        metrics_dropped()
        self.inbound = FakeInboundStore(self.opt_outs)
        secrets = FakeSecretSource(webhook_secret=SECRET, webhook_basic_auth=BASIC)
        authenticator = WebhookAuthenticator(secrets, tolerance_s=300, clock=Clock(SIGNED_AT + 5))
        self.intake = InboundIntake(self.sending.store, self.inbound, authenticator)
        tenants = FakeTenantStore(**{TENANT: TenantPolicy(), OTHER_TENANT: TenantPolicy()})
        admission = Admission(
            tenants,
            self._no_media,
            FakeTemplateStore(),
            opt_outs=self.opt_outs,
            sender_number=lambda: self.sender_number,
            check_callback=lambda url: None,
            media=FakeMediaStore(),
        )
        self.messages = MessagesEndpoint(
            SendMessage(self.sending.sender, admission), "unused-idempotency-table"
        )

    @staticmethod
    def _no_media(urls: Sequence[str], *, budget_s: float | None = None) -> list[MediaInfo | InvalidRequest]:
        raise AssertionError("no media in these tests")

    def receive(self, raw: str, proof: WebhookProof | None = None) -> str:
        return self.intake.receive(raw, signed(raw) if proof is None else proof)

    def send(self, tenant: str = TENANT) -> tuple[int, dict[str, Any]]:
        request = SendMessageRequest.model_validate({"to": HANDSET, "text": "Your order has shipped"})
        answer = self.messages.answer(request, CALLBACK, tenant)
        return answer.status, json.loads(answer.body)

    def sent_message(self, tenant: str) -> str:
        return self.sending.store.seed(
            MessageRecord(
                tenant_id=tenant, to=HANDSET, content=SmsContent(text="Hi"), status=Status.SUBMITTED
            )
        ).id


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.mark.parametrize(
    "body", ["STOP", "stop", "  Stop \n", "STOPALL", "unsubscribe", "Cancel", "END", "quit"]
)
def test_each_opt_out_word_in_any_case_refuses_the_next_send_with_422_and_sends_nothing(
    gateway: Gateway, body: str
) -> None:
    assert gateway.receive(mo(body)) == "new"

    status, problem = gateway.send()

    assert status == 422
    assert problem["type"] == "/problems/recipient-opted-out"
    assert problem["errors"] == [
        {"field": "to", "message": "has opted out (texted STOP to the sender number)"}
    ]
    assert gateway.sending.xms.calls == [] and gateway.sending.store.records() == []
    assert gateway.sending.queue.retries == []


def mms_mo(message: str | None, **body: Any) -> str:
    """Sinch's mo_media: an MMS from the handset, its text in body.message."""
    raw = json.loads(mo("unused"))
    raw["type"] = "mo_media"
    raw["body"] = {**({"message": message} if message is not None else {}), **body}
    return json.dumps(raw)


PHOTO = {"url": "https://mms.example/f/1.jpg", "content_type": "image/jpeg", "status": "Uploaded", "code": 0}


def test_a_stop_sent_as_an_mms_opts_out_as_an_sms_would(gateway: Gateway) -> None:
    assert gateway.receive(mms_mo(" stop ", media=[PHOTO])) == "new"

    status, problem = gateway.send()

    assert (status, problem["type"]) == (422, "/problems/recipient-opted-out")
    assert gateway.sending.xms.calls == []


@pytest.mark.parametrize("media", [{}, {"media": None}, {"media": []}], ids=["absent", "null", "empty"])
def test_an_inbound_mms_with_no_files_is_its_text(gateway: Gateway, media: dict[str, Any]) -> None:
    assert gateway.receive(mms_mo("STOP", **media)) == "new"

    ((kept, _),) = gateway.inbound.messages.values()
    assert (kept.body, kept.media, kept.action) == ("STOP", (), Action.OPTED_OUT)


def test_an_inbound_mms_is_kept_with_its_subject_and_files(gateway: Gateway) -> None:
    failed = {"content_type": "video/mp4", "status": "Failed", "code": 1}
    gateway.receive(mms_mo(None, subject="Look", media=[PHOTO, failed], extra_field=1))

    ((kept, _),) = gateway.inbound.messages.values()
    assert (kept.body, kept.subject, kept.action) == ("", "Look", None)
    assert [(m.url, m.content_type, m.status) for m in kept.media] == [
        (PHOTO["url"], "image/jpeg", "Uploaded"),
        (None, "video/mp4", "Failed"),
    ]
    gateway.sending.xms.on_send(Accepted("01HZX3K9Q7B2M4N6P8R0S2T4V6"))
    assert gateway.send()[0] == 202, "a picture is no keyword"


@pytest.mark.parametrize(
    "raw",
    [
        mms_mo("STOP", media="not a list"),
        mms_mo("STOP", media=[{"url": "https://mms.example/f/1.jpg"}]),  # no content_type or status
        mms_mo("STOP", media=[PHOTO] * 51),
        mms_mo("x" * 10_001),
    ],
    ids=["media not a list", "file without its type", "too many files", "long message"],
)
def test_an_mms_body_that_is_not_sinchs_is_a_400_and_opts_nobody_out(gateway: Gateway, raw: str) -> None:
    with pytest.raises(InvalidInbound):
        gateway.receive(raw)

    assert gateway.inbound.messages == {} and gateway.opt_outs.senders == {}


@pytest.mark.parametrize("body", ["START", " unstop "])
def test_start_or_unstop_lets_the_next_send_through(gateway: Gateway, body: str) -> None:
    gateway.receive(mo("STOP", at="2026-11-23T19:00:00Z"))
    gateway.receive(mo(body, at="2026-11-23T19:05:00Z"))
    gateway.sending.xms.on_send(Accepted("01HZX3K9Q7B2M4N6P8R0S2T4V6"))

    status, answer = gateway.send()

    assert (status, answer["status"]) == (202, "submitted")
    assert len(gateway.sending.xms.sent) == 1


@pytest.mark.parametrize("body", ["stop it", "STOP!", "YES", "please stop texting me", "S T O P"])
def test_a_sentence_or_yes_is_kept_as_a_reply_and_changes_nothing(gateway: Gateway, body: str) -> None:
    gateway.receive(mo(body))

    (kept,) = [m for m, _ in gateway.inbound.messages.values()]
    assert (kept.body, kept.action) == (body, None)
    assert gateway.opt_outs.senders == {}


def test_a_late_stop_does_not_undo_a_later_start(gateway: Gateway) -> None:
    gateway.receive(mo("START", at="2026-11-23T19:05:00Z"))
    gateway.receive(mo("STOP", at="2026-11-23T19:00:00Z"))  # delivered late by a retry

    assert not gateway.opt_outs.opted_out(HANDSET, SENDER)


def test_an_opt_out_holds_for_every_tenant_sending_from_that_number(gateway: Gateway) -> None:
    gateway.receive(mo("STOP", reference=gateway.sent_message(TENANT)))

    assert gateway.send(OTHER_TENANT)[0] == 422


def test_an_opt_out_is_checked_with_one_read(gateway: Gateway) -> None:
    gateway.receive(mo("STOP"))

    gateway.send()

    assert gateway.opt_outs.reads == 1


def test_without_the_sender_number_an_opt_out_from_any_of_ours_refuses_the_send() -> None:
    gateway = Gateway(sender_number=None)
    gateway.opt_outs.set(HANDSET, "+12025550199", opted_out=True)

    assert gateway.send()[0] == 422


def test_an_inbound_message_belongs_to_the_tenant_whose_message_it_answers(gateway: Gateway) -> None:
    answered = gateway.sent_message(OTHER_TENANT)

    gateway.receive(mo("Thanks!", reference=answered))

    ((kept, _),) = gateway.inbound.messages.values()
    assert (kept.tenant_id, kept.message_id, kept.from_) == (OTHER_TENANT, answered, HANDSET)


@pytest.mark.parametrize("reference", [None, "0b5e3c4e-8f1a-4d2b-9c6e-2a7f1d3b5e90", "order-1234"])
def test_an_inbound_message_answering_no_message_of_ours_belongs_to_no_tenant(
    gateway: Gateway, reference: str | None
) -> None:
    gateway.receive(mo("STOP", reference=reference))

    ((kept, _),) = gateway.inbound.messages.values()
    assert kept.tenant_id is None and kept.action is Action.OPTED_OUT
    assert gateway.opt_outs.opted_out(HANDSET, SENDER), "the STOP holds all the same"


def test_a_replayed_signed_inbound_message_is_refused(gateway: Gateway) -> None:
    raw = mo("START")
    proof = signed(raw, nonce="01FJA8B4A7BM43YGWSG9GBV067")
    gateway.receive(raw, proof)

    with pytest.raises(Unauthenticated, match="received before"):
        gateway.receive(raw, proof)


def test_sinchs_resend_of_an_inbound_message_under_a_new_signature_is_a_harmless_duplicate(
    gateway: Gateway,
) -> None:
    raw = mo("STOP")
    gateway.receive(raw)

    assert gateway.receive(raw) == "duplicate"
    assert len(gateway.inbound.messages) == 1


def test_basic_auth_is_accepted_as_for_delivery_reports(gateway: Gateway) -> None:
    assert gateway.receive(mo("STOP"), basic_proof(BASIC)) == "new"


@pytest.mark.parametrize(
    "proof",
    [
        WebhookProof(),
        WebhookProof(signature="AAAA", nonce="n", timestamp=str(SIGNED_AT)),
        basic_proof("nobody:nope"),
    ],
    ids=["unsigned", "bad signature", "wrong basic"],
)
def test_an_unauthenticated_stop_is_refused_and_writes_nothing(gateway: Gateway, proof: WebhookProof) -> None:
    with pytest.raises(Unauthenticated):
        gateway.receive(mo("STOP"), proof)

    assert gateway.inbound.messages == {} and gateway.opt_outs.senders == {}


def test_a_stale_signature_is_refused(gateway: Gateway) -> None:
    raw = mo("STOP")
    with pytest.raises(Unauthenticated, match="window"):
        gateway.receive(raw, signed(raw, at=SIGNED_AT - 3600))


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        json.dumps({"type": "recipient_delivery_report_sms", "batch_id": "b"}),
        json.dumps({"type": "mo_binary", "id": "x", "from": HANDSET, "to": "1", "body": "AA=="}),
        mo("STOP", **{"from": "+1 (202) 555-0143"}),
        mo("STOP", to="our-number"),
        mo("STOP", id="x" * 101),
        mo("x" * 10_001),
        mo("STOP", received_at="yesterday"),
    ],
    ids=[
        "not json",
        "a delivery report",
        "mo_binary",
        "bad from",
        "bad to",
        "long id",
        "long body",
        "bad time",
    ],
)
def test_a_body_that_is_not_an_mo_text_is_a_400_and_writes_nothing(gateway: Gateway, raw: str) -> None:
    with pytest.raises(InvalidInbound):
        gateway.receive(raw)

    assert gateway.inbound.messages == {} and gateway.opt_outs.senders == {}


def test_keywords() -> None:
    assert action_of("\tSTOP  ") is Action.OPTED_OUT
    assert action_of("Unstop") is Action.OPTED_IN
    assert action_of("") is None


def test_the_received_time_is_kept_as_sinch_gave_it(gateway: Gateway) -> None:
    gateway.receive(mo("hello", at="2026-11-23T19:00:03Z"))

    ((kept, _),) = gateway.inbound.messages.values()
    assert kept.received_at == datetime(2026, 11, 23, 19, 0, 3, tzinfo=UTC)


# --- what is stored of an inbound MMS: within a bound under DynamoDB's 400 KB ------------------


def dynamodb_size(value: Any) -> int:
    """Bytes DynamoDB counts for an attribute value, by its documented rules (rounded up): a string
    its UTF-8, a number up to 21, a map or list 3 plus 1 a member, a map's names their UTF-8."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return min(21, len(inner) // 2 + 2)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + dynamodb_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + dynamodb_size(v) for k, v in inner.items())
    raise AssertionError(f"no size rule for {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + dynamodb_size(value) for name, value in item.items())


WIDE = "\U0001f600"  # four bytes in UTF-8: the most a character takes


def largest_mms(**changes: Any) -> str:
    """An mo_media at every limit of the webhook's parser, in characters of four bytes."""
    media = {"url": "https://mms.example/" + WIDE * 2028, "content_type": WIDE * 255, "status": WIDE * 64}
    body = {"subject": WIDE * 10_000, "message": WIDE * 10_000, "media": [media] * 50, **changes}
    return json.dumps(
        {**json.loads(mo("unused", id="M" * 100)), "type": "mo_media", "body": body}, ensure_ascii=False
    )


def test_the_largest_mms_the_webhook_takes_is_stored_within_the_stated_bound(gateway: Gateway) -> None:
    message_id = gateway.sent_message(TENANT)
    raw = json.dumps({**json.loads(largest_mms()), "client_reference": message_id}, ensure_ascii=False)
    assert len(raw.encode()) > 500_000  # what Sinch would have us store whole: 560 KB

    assert gateway.receive(raw, signed(raw, nonce="n" * 128)) == "new"

    [(stored, nonce)] = gateway.inbound.messages.values()
    item = inbound_item(stored, nonce, 2_000_000_000)
    assert item_size(item) <= MAX_STORED_BYTES < 400_000
    assert (stored.body, stored.subject) == (WIDE * 10_000, WIDE * 10_000)  # the text, whole
    assert len(stored.media) + stored.media_omitted == 50 and stored.media_omitted > 0
    assert sum(
        len(json.dumps(m.model_dump(mode="json"), ensure_ascii=False).encode()) for m in stored.media
    ) <= (MAX_MEDIA_BYTES)


def test_files_are_kept_in_sinchs_order_until_their_details_fill_the_room() -> None:
    small = InboundMedia(url="https://mms.example/a.jpg", content_type="image/jpeg", status="Uploaded")
    large = InboundMedia(
        url="https://mms.example/" + "a" * 40_000, content_type="image/jpeg", status="Uploaded"
    )
    assert kept_media([small, small]) == ((small, small), 0)
    assert kept_media([small, large, small]) == ((small,), 2)  # none past the first left out
    assert kept_media([]) == ((), 0)
