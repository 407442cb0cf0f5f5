"""ReportIntake against in-memory fakes: statuses only forward, every report kept (as an event,
stale, or unmatched), each signed report taken once, and nothing written for one refused."""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from sinch_gateway.api.problems import problem_kind
from sinch_gateway.domain.batches import recipient_message_id
from sinch_gateway.domain.content import Channel, MmsSlidesContent, Slide, SmsContent
from sinch_gateway.domain.errors import InvalidReport, Unauthenticated
from sinch_gateway.domain.fan_out import call_reference
from sinch_gateway.domain.message import MAX_EVENTS, Advanced, MessageRecord, StatusEvent
from sinch_gateway.domain.reports import StatusReport
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus
from sinch_gateway.domain.webhook_auth import WebhookProof
from sinch_gateway.usecases.report_intake import ReportIntake
from sinch_gateway.usecases.webhook_authenticator import WebhookAuthenticator
from tests.unit.fakes import (
    Clock,
    FakeMessageStore,
    FakeSecretSource,
    FakeTemplateStore,
    FakeUnmatchedStore,
    basic_proof,
    metrics_dropped,
    signed_proof,
)

SECRET = "unit-webhook-secret"
BASIC = "sinch-callbacks:s3cret-pa55"
BATCH = "01HZX3K9Q7B2M4N6P8R0S2T4V6"
SIGNED_AT = 1_795_000_000
POSTBACK_TOKEN = "unit-postback-token"
SINCH_NETWORK = "192.0.2.0/24"  # TEST-NET-1: the allowlist of Sinch's postback addresses
FROM_SINCH = "192.0.2.10"


@dataclass
class Reports:
    """ReportIntake on fakes, holding one submitted message."""

    secrets: FakeSecretSource = field(
        default_factory=lambda: FakeSecretSource(
            webhook_secret=SECRET,
            webhook_basic_auth=BASIC,
            postback_token=POSTBACK_TOKEN,
            postback_sources=(SINCH_NETWORK,),
        )
    )
    clock: Clock = field(default_factory=lambda: Clock(SIGNED_AT + 5))
    store: FakeMessageStore = field(default_factory=FakeMessageStore)
    unmatched: FakeUnmatchedStore = field(default_factory=FakeUnmatchedStore)
    templates: FakeTemplateStore = field(default_factory=FakeTemplateStore)

    def __post_init__(self) -> None:
        metrics_dropped()
        self.intake = ReportIntake(
            self.store,
            self.unmatched,
            WebhookAuthenticator(self.secrets, tolerance_s=300, clock=self.clock),
            self.templates,
        )
        accepted = datetime(2026, 11, 23, 19, 0, 0, tzinfo=UTC)
        self.message = self.store.seed(
            MessageRecord(
                tenant_id="k1l2m3n4o5",
                to="+12025550143",
                content=SmsContent(text="Your order has shipped"),
                batch_id=BATCH,
                status=Status.SUBMITTED,
                attempts=1,
                events=[
                    StatusEvent(status=Status.ACCEPTED, at=accepted),
                    StatusEvent(status=Status.SUBMITTED, at=accepted, detail=f"batch {BATCH}"),
                ],
            ).expire_after(90)
        ).id

    def stored(self) -> MessageRecord:
        record = self.store.get(self.message)
        assert record is not None
        return record

    def post(self, raw: str, proof: WebhookProof | None = None) -> str:
        return self.intake.delivery_report(raw, signed(raw) if proof is None else proof)


@pytest.fixture
def reports() -> Reports:
    return Reports()


def report(message_id: str | None, status: str, code: int, **extra: Any) -> str:
    body = {
        "type": "recipient_delivery_report_sms",
        "batch_id": BATCH,
        "recipient": "+12025550143",
        "code": code,
        "status": status,
        "at": "2026-11-23T19:00:03.120Z",
        "client_reference": message_id,
        **extra,
    }
    return json.dumps({k: v for k, v in body.items() if v is not None})


def signed(raw: str, *, nonce: str | None = None, at: int = SIGNED_AT, secret: str = SECRET) -> WebhookProof:
    return signed_proof(secret, raw, at=at, nonce=nonce)


# --- applying ----------------------------------------------------------------------------------


def test_reports_move_the_status_forward(reports: Reports) -> None:
    assert reports.post(report(reports.message, "Dispatched", 401)) == "moved"
    delivered = report(reports.message, "Delivered", 0, operator_status_at="2026-11-23T19:00:02Z")
    assert reports.post(delivered) == "moved"

    record = reports.stored()
    assert record.status is Status.DELIVERED
    assert [e.model_dump(mode="json") for e in record.events[2:]] == [
        {"status": "dispatched", "at": "2026-11-23T19:00:03.120000Z", "code": 401},
        {
            "status": "delivered",
            "at": "2026-11-23T19:00:03.120000Z",
            "code": 0,
            "operatorAt": "2026-11-23T19:00:02Z",
        },
    ]


def test_a_report_on_one_recipient_of_a_batchs_call_moves_that_recipients_message(reports: Reports) -> None:
    ours = "5b0f3c1e-8d2a-4e6b-9c7f-1a2b3c4d5e6f"  # our batch; the call for several of its recipients
    recipients = ("+12025550143", "+12025550144")
    for to in recipients:
        reports.store.seed(
            MessageRecord(
                id=recipient_message_id(ours, to),
                tenant_id="k1l2m3n4o5",
                to=to,
                content=SmsContent(text="Hi"),
                batch_id=ours,
                sinch_id=BATCH,
                status=Status.SUBMITTED,
            )
        )
    reference = call_reference(ours, 0)

    # Sinch may write the number without its "+".
    assert reports.post(report(reference, "Delivered", 0, recipient="12025550144")) == "moved"

    first, second = (reports.store.get(recipient_message_id(ours, to)) for to in recipients)
    assert first is not None and first.status is Status.SUBMITTED
    assert second is not None and second.status is Status.DELIVERED


def test_a_report_on_a_whole_call_for_several_recipients_is_kept_unmatched(reports: Reports) -> None:
    reference = call_reference("5b0f3c1e-8d2a-4e6b-9c7f-1a2b3c4d5e6f", 0)
    summary = {
        "type": "delivery_report_sms",
        "batch_id": BATCH,
        "total_message_count": 2,
        "statuses": [{"code": 0, "status": "Delivered", "count": 2}],
        "client_reference": reference,
    }

    assert reports.post(json.dumps(summary)) == "unknown_message"
    assert reports.unmatched.of_kind("unmatched")


def test_duplicate_late_and_out_of_order_reports_are_kept_as_stale_events(reports: Reports) -> None:
    reports.post(report(reports.message, "Delivered", 0))
    before = reports.stored()

    for late in (
        report(reports.message, "Delivered", 0),
        report(reports.message, "Dispatched", 401),
        report(reports.message, "Failed", 402),
    ):
        assert reports.post(late) == "stale"

    after = reports.stored()
    assert (after.status, after.updated_at) == (Status.DELIVERED, before.updated_at)
    assert after.events[: len(before.events)] == before.events
    assert [(e.status, e.code, e.stale) for e in after.events[len(before.events) :]] == [
        (Status.DELIVERED, 0, True),
        (Status.DISPATCHED, 401, True),
        (Status.FAILED, 402, True),
    ]


def test_a_stale_report_on_a_full_message_is_acknowledged_but_not_kept(reports: Reports) -> None:
    reports.post(report(reports.message, "Delivered", 0))
    full = reports.stored()
    reports.store.seed(full.model_copy(update={"events": full.events + [full.events[-1]] * (MAX_EVENTS - 3)}))
    assert len(reports.stored().events) == MAX_EVENTS

    assert reports.post(report(reports.message, "Delivered", 0)) == "stale"
    assert len(reports.stored().events) == MAX_EVENTS


def test_a_batch_report_moves_the_status_to_its_furthest_status(reports: Reports) -> None:
    raw = json.dumps(
        {
            "type": "delivery_report_sms",
            "batch_id": BATCH,
            "total_message_count": 1,
            "statuses": [
                {"code": 401, "status": "Dispatched", "count": 1},
                {"code": 406, "status": "Expired", "count": 1},
            ],
            "client_reference": reports.message,
        }
    )

    assert reports.post(raw) == "moved"
    assert (reports.stored().status, reports.stored().events[-1].code) == (Status.EXPIRED, 406)


def test_a_report_that_an_mms_arrived_as_sms_says_so_on_the_message(reports: Reports) -> None:
    mms = reports.store.seed(
        MessageRecord(
            tenant_id="k1l2m3n4o5",
            to="+12025550144",
            content=MmsSlidesContent(slides=(Slide(text="Spring sale"),)),
            batch_id="tracking-7",
            status=Status.SUBMITTED,
        )
    )
    at = datetime(2026, 11, 23, 19, 0, 3, tzinfo=UTC)
    fallback = StatusReport("N102", "tracking-7", mms.id, Status.DELIVERED, 0, at, delivered_as=Channel.SMS)

    assert reports.intake.apply(fallback, "{}") == "moved"

    record = reports.store.get(mms.id)
    assert record is not None
    assert (record.status, record.delivered_as) == (Status.DELIVERED, Channel.SMS)


# --- reports no message takes ------------------------------------------------------------------


def test_a_report_for_a_message_we_do_not_have_is_kept_as_unmatched_once(reports: Reports) -> None:
    orphan = report("3f1e9d3c-0000-4000-8000-000000000000", "Delivered", 0)

    assert reports.post(orphan) == "unknown_message"
    assert reports.post(orphan) == "unknown_message"  # Sinch sent it again

    assert list(reports.unmatched.kept.values()) == [("unknown_message", orphan)]
    assert [r.id for r in reports.store.records()] == [reports.message], "no message made up"


@pytest.mark.parametrize(
    ("referenced", "status", "code", "reason"),
    [(False, "Delivered", 0, "unknown_message"), (True, "Vanished", 999, "unknown_status")],
    ids=["no-client-reference", "unknown-status"],
)
def test_reports_no_message_can_take_are_kept_and_change_nothing(
    reports: Reports, referenced: bool, status: str, code: int, reason: str
) -> None:
    raw = report(reports.message if referenced else None, status, code)
    before = reports.stored()

    assert reports.post(raw) == reason

    assert reports.stored() == before
    assert list(reports.unmatched.kept.values()) == [(reason, raw)]


# --- who may post, and only once ---------------------------------------------------------------


def test_a_replayed_signed_report_is_refused_and_applies_nothing(reports: Reports) -> None:
    raw = report(reports.message, "Dispatched", 401)
    proof = signed(raw)
    assert reports.post(raw, proof) == "moved"
    before = reports.stored()

    with pytest.raises(Unauthenticated, match="received before"):
        reports.post(raw, proof)

    assert reports.stored() == before  # not even a stale event
    assert reports.store.nonces == {reports.message: {proof.nonce}}


def test_a_replayed_late_report_is_kept_once_as_stale_then_refused(reports: Reports) -> None:
    delivered = report(reports.message, "Delivered", 0)
    assert reports.post(delivered) == "moved"
    late = report(reports.message, "Dispatched", 401)
    proof = signed(late)

    assert reports.post(late, proof) == "stale"
    kept = reports.stored()
    with pytest.raises(Unauthenticated, match="received before"):
        reports.post(late, proof)

    assert reports.stored() == kept
    assert [e.stale for e in kept.events][-1] is True


def test_a_replayed_report_on_no_message_of_ours_is_refused_and_kept_once(reports: Reports) -> None:
    raw = report(str(uuid.uuid4()), "Delivered", 0)
    proof = signed(raw)
    assert reports.post(raw, proof) == "unknown_message"

    with pytest.raises(Unauthenticated, match="received before"):
        reports.post(raw, proof)
    assert reports.post(raw) == "unknown_message", "Sinch's resend carries a new nonce"
    assert list(reports.unmatched.kept.values()) == [("unknown_message", raw)]


def test_a_nonce_taken_by_one_message_does_not_refuse_a_report_on_another(reports: Reports) -> None:
    # The signature binds a nonce to its body: reusing it elsewhere needs the secret, and then
    # it is Sinch's own report.
    other = reports.store.seed(reports.stored().model_copy(update={"id": str(uuid.uuid4())})).id
    first, second = report(reports.message, "Delivered", 0), report(other, "Delivered", 0)
    reports.post(first, signed(first, nonce="01JD8Y5K3M2N4P6Q8R0S2T4V6W"))

    assert reports.post(second, signed(second, nonce="01JD8Y5K3M2N4P6Q8R0S2T4V6W")) == "moved"


def test_the_same_nonce_on_another_body_is_refused_too(reports: Reports) -> None:
    first = report(reports.message, "Dispatched", 401)
    reports.post(first, signed(first, nonce="01JD8Y5K3M2N4P6Q8R0S2T4V6W"))
    before = reports.stored()

    second = report(reports.message, "Delivered", 0)
    with pytest.raises(Unauthenticated):
        reports.post(second, signed(second, nonce="01JD8Y5K3M2N4P6Q8R0S2T4V6W"))

    assert reports.stored() == before


@pytest.mark.parametrize(
    "credentials",
    [
        lambda raw: signed(raw, secret="guessed"),
        lambda raw: signed(raw, at=SIGNED_AT - 600),  # outside the window
        lambda raw: signed(raw.replace("Delivered", "Failed")),  # another body's signature
        lambda raw: WebhookProof(),
        lambda raw: basic_proof("sinch-callbacks:guess"),
    ],
    ids=["wrong-secret", "old-timestamp", "other-body", "unsigned", "wrong-basic"],
)
def test_an_unauthenticated_report_is_refused_and_writes_nothing(
    reports: Reports, credentials: Callable[[str], WebhookProof]
) -> None:
    raw = report(reports.message, "Delivered", 0)
    before = reports.stored()

    with pytest.raises(Unauthenticated):
        reports.post(raw, credentials(raw))

    assert reports.stored() == before
    assert (reports.store.nonces, reports.unmatched.kept) == ({}, {})


def test_without_any_webhook_secret_every_report_is_refused() -> None:
    reports = Reports(secrets=FakeSecretSource())
    raw = report(reports.message, "Delivered", 0)

    with pytest.raises(Unauthenticated, match="not configured"):
        reports.post(raw, signed(raw, secret=""))
    assert reports.stored().status is Status.SUBMITTED


def test_basic_auth_has_no_nonce_so_a_resent_report_is_applied_as_stale(reports: Reports) -> None:
    raw = report(reports.message, "Delivered", 0)

    assert reports.post(raw, basic_proof(BASIC)) == "moved"
    assert reports.post(raw, basic_proof(BASIC)) == "stale"
    assert reports.store.nonces == {}


def test_a_malformed_report_is_invalid_and_keeps_no_nonce(reports: Reports) -> None:
    fax = report(reports.message, "Delivered", 0, type="recipient_delivery_report_fax")
    nonce = "01JD8Y5K3M2N4P6Q8R0S2T4V6W"
    before = reports.stored()

    with pytest.raises(InvalidReport) as invalid:
        reports.post(fax, signed(fax, nonce=nonce))

    assert problem_kind(invalid.value).status == 400 and invalid.value.errors
    assert reports.store.nonces == {}
    assert reports.stored() == before
    fixed = report(reports.message, "Delivered", 0)
    assert reports.post(fixed, signed(fixed, nonce=nonce)) == "moved", "the nonce is still unused"


def unavailable(store: FakeMessageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def advance(*_: object, **__: object) -> Advanced:
        raise RuntimeError("DynamoDB is having a bad day")

    monkeypatch.setattr(store, "advance", advance)


def test_a_report_that_failed_to_apply_keeps_no_nonce_so_sinchs_resend_is_applied(
    reports: Reports, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = report(reports.message, "Delivered", 0)
    proof = signed(raw)

    with monkeypatch.context() as patch:
        unavailable(reports.store, patch)
        with pytest.raises(RuntimeError):
            reports.post(raw, proof)
    assert reports.store.nonces == {}

    assert reports.post(raw, proof) == "moved"
    assert reports.stored().status is Status.DELIVERED


# --- MMS JSON API postbacks --------------------------------------------------------------------


def postback(code: str, reference: str | None, **extra: str) -> str:
    body = {"origin": "MMS_MT", "code": code, "tracking-id": "tracking-7", "client-reference": reference}
    return json.dumps({k: v for k, v in {**body, **extra}.items() if v is not None})


def post_postback(
    reports: Reports, raw: str, token: str | None = POSTBACK_TOKEN, ip: str = FROM_SINCH
) -> str:
    return reports.intake.postback(raw, WebhookProof(), path_token=token, source_ip=ip)


def test_a_postback_is_kept_raw_and_moves_its_message_forward(reports: Reports) -> None:
    dispatched, delivered = postback("N101", reports.message), postback("N102", reports.message)

    assert post_postback(reports, dispatched) == "moved"
    assert post_postback(reports, delivered) == "moved"
    assert post_postback(reports, dispatched) == "stale"  # retried by Sinch, late

    record = reports.stored()
    assert record.status is Status.DELIVERED
    assert [(e.status, e.code, e.stale) for e in record.events[2:]] == [
        (Status.DISPATCHED, "N101", None),
        (Status.DELIVERED, "N102", None),
        (Status.DISPATCHED, "N101", True),
    ]
    assert reports.unmatched.of_kind("postback") == [("received", dispatched), ("received", delivered)]


def test_a_fallback_postback_says_the_mms_arrived_as_sms(reports: Reports) -> None:
    assert post_postback(reports, postback("N202", reports.message)) == "moved"

    assert (reports.stored().status, reports.stored().delivered_as) == (Status.DELIVERED, Channel.SMS)


def pending_template(reports: Reports) -> str:
    template = MmsTemplate(
        tenant_id="k1l2m3n4o5", name="sale", subject="Spring sale", slides=(Slide(text="50% off"),)
    )
    reports.templates.create(template)
    return template.id


def test_a_template_postback_makes_the_template_ready_once(reports: Reports) -> None:
    template_id = pending_template(reports)

    assert post_postback(reports, postback("N003", template_id, **{"mms-id": "sinch-tpl-1"})) == "moved"
    assert post_postback(reports, postback("E002", template_id)) == "stale"  # settled already

    template = reports.templates.get(template_id)
    assert template is not None
    assert (template.status, template.mms_id, template.tracking_id) == (
        TemplateStatus.READY,
        "sinch-tpl-1",
        "tracking-7",
    )


def test_a_template_sinch_could_not_encode_fails_with_the_code(reports: Reports) -> None:
    template_id = pending_template(reports)

    assert post_postback(reports, postback("E003", template_id, status="Video encoding failed")) == "moved"

    template = reports.templates.get(template_id)
    assert template is not None
    assert (template.status, template.error_code, template.error_text) == (
        TemplateStatus.FAILED,
        "E003",
        "Video encoding failed",
    )


def test_a_template_postback_without_our_reference_is_kept_and_settles_nothing(reports: Reports) -> None:
    template_id = pending_template(reports)

    assert post_postback(reports, postback("N003", None)) == "unknown_message"

    assert [reason for reason, _ in reports.unmatched.of_kind("postback")] == ["received"]
    template = reports.templates.get(template_id)
    assert template is not None and template.status is TemplateStatus.PENDING


@pytest.mark.parametrize(
    ("token", "ip"),
    [
        ("guessed", FROM_SINCH),
        (None, FROM_SINCH),
        (POSTBACK_TOKEN, "203.0.113.9"),
        (POSTBACK_TOKEN, "not an ip"),
    ],
    ids=["wrong-token", "no-token", "outside-the-allowlist", "unreadable-address"],
)
def test_an_unauthenticated_postback_is_refused_and_keeps_nothing(
    reports: Reports, token: str | None, ip: str
) -> None:
    before = reports.stored()

    with pytest.raises(Unauthenticated):
        post_postback(reports, postback("N102", reports.message), token=token, ip=ip)

    assert reports.stored() == before
    assert reports.unmatched.kept == {}


@pytest.mark.parametrize("raw", ["{}", "[]", '{"code": ""}', '{"code": 102}', "not json"])
def test_a_malformed_postback_is_invalid_and_keeps_nothing(reports: Reports, raw: str) -> None:
    with pytest.raises(InvalidReport):
        post_postback(reports, raw)

    assert reports.unmatched.kept == {}
    assert reports.stored().status is Status.SUBMITTED


# --- counting refusals ---------------------------------------------------------------------------


def refusals_counted() -> int:
    return len(Metrics().metric_set.get("WebhookAuthFailures", {}).get("Value", []))


def test_each_call_refused_for_its_proof_is_counted_once_and_a_taken_or_replayed_one_not(
    reports: Reports,
) -> None:
    raw = report(reports.message, "Delivered", 0)
    proof = signed(raw)
    assert reports.post(raw, proof) == "moved"
    assert post_postback(reports, postback("N102", reports.message)) == "stale"
    with pytest.raises(Unauthenticated, match="received before"):
        reports.post(raw, proof)
    assert refusals_counted() == 0

    for refused in (signed(raw, secret="guessed"), basic_proof("sinch-callbacks:guess"), WebhookProof()):
        with pytest.raises(Unauthenticated):
            reports.post(raw, refused)
    with pytest.raises(Unauthenticated, match="token does not match"):
        post_postback(reports, postback("N102", reports.message), token="guessed")
    with pytest.raises(Unauthenticated, match="not accepted from this address"):
        post_postback(reports, postback("N102", reports.message), ip="203.0.113.7")

    assert refusals_counted() == 5
