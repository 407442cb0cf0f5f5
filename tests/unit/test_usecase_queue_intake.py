"""QueueIntake against in-memory fakes: retries, requests other services publish, and what is
refused (recorded as rejected and parked on the dead-letter queue, never sent, never retried)."""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.api.queue_bodies import read_queued
from sinch_gateway.domain import tenants
from sinch_gateway.domain.content import (
    MmsSlidesContent,
    MmsTemplateContent,
    Slide,
    SmsContent,
    XmsMediaContent,
)
from sinch_gateway.domain.errors import InvalidRequest, MediaUnavailable
from sinch_gateway.domain.message import MessageDraft, MessageRecord
from sinch_gateway.domain.outcomes import Accepted, NotFound, Transient
from sinch_gateway.domain.rate_share import Turn
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus
from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.media.preflight import MediaInfo
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.batch_intake import BatchIntake
from sinch_gateway.usecases.queue_intake import OutOfTime, QueueIntake, queued_message_id
from tests.strategies import json_values
from tests.unit.fakes import (
    GATEWAY_SENDER,
    PUBLISHER,
    SEND_ROLE_ID,
    DeadLetter,
    FakeBatchStore,
    FakeOptOuts,
    FakeTemplateStore,
    FakeTenantStore,
    Sending,
    sender_settings,
)

TENANT = "k1l2m3n4o5"
OTHER_TENANT = "z9y8x7w6v5"
SMS = {"to": "+12025550143", "text": "Published by another service"}
MEDIA = "https://media.example.com/sale.jpg"
BATCH = "01HZX3K9Q7B2M4N6P8R0S2T4V6"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"
CALLBACK = "https://api.example.com/v1-stage/v1/webhooks/sinch/delivery-reports"
SENDER = "+12025550100"  # the number every message goes from (the Sinch secret's)
PUBLISHERS = frozenset({PUBLISHER})  # each tenant's registered publisher


@dataclass
class Queue:
    """QueueIntake on fakes, with TENANT and OTHER_TENANT registered."""

    sending: Sending = field(default_factory=Sending)
    tenants: FakeTenantStore = field(
        default_factory=lambda: FakeTenantStore(
            **{TENANT: TenantPolicy(publishers=PUBLISHERS), OTHER_TENANT: TenantPolicy(publishers=PUBLISHERS)}
        )
    )
    templates: FakeTemplateStore = field(default_factory=FakeTemplateStore)
    opt_outs: FakeOptOuts = field(default_factory=FakeOptOuts)
    media_refusal: InvalidRequest | None = None
    media_checked: list[str] = field(default_factory=list)
    media_budgets: list[float | None] = field(default_factory=list)
    callback_refusal: InvalidRequest | None = None

    batches: FakeBatchStore = field(default_factory=FakeBatchStore)

    def __post_init__(self) -> None:
        admission = Admission(
            self.tenants,
            self._check_media,
            self.templates,
            opt_outs=self.opt_outs,
            sender_number=lambda: SENDER,
            check_callback=self._check_callback,
            media=self.sending.media,
        )
        self.intake = QueueIntake(
            self.sending.sender,
            self.sending.store,
            self.tenants,
            admission,
            self.sending.queue,
            settler=self.sending.settler,
            fan_out=self.sending.fan_out,
            settings=self.sending.settings,
            batch_intake=BatchIntake(admission, self.batches, self.sending.queue),
        )

    def _check_media(
        self, urls: Sequence[str], *, budget_s: float | None = None
    ) -> list[MediaInfo | InvalidRequest]:
        self.media_checked.extend(urls)
        self.media_budgets.append(budget_s)
        return [self.media_refusal or MediaInfo(url, "image/jpeg", JPEG) for url in urls]

    def _check_callback(self, url: str) -> None:
        if self.callback_refusal is not None:
            raise self.callback_refusal

    def publish(
        self,
        body: object,
        sqs_id: str = "sqs-1",
        tenant: str | None = TENANT,
        sender: str | None = PUBLISHER,
        *,
        time_left_s: float | None = None,
    ) -> str:
        """Hand QueueIntake one SendQueue message that `sender` published; returns the id its
        request would be stored under."""
        text = body if isinstance(body, str) else json.dumps(body)
        self.intake.handle(read_queued(text), text, sqs_id, tenant, sender_id=sender, time_left_s=time_left_s)
        return queued_message_id(tenant or "", sqs_id, None)

    def retried(self, body: str, sender: str | None = GATEWAY_SENDER) -> None:
        """Hand QueueIntake a retry that `sender` published (retries carry no tenant)."""
        self.intake.handle(read_queued(body), body, "sqs-retry", None, sender_id=sender)

    def stored(self, message_id: str) -> MessageRecord:
        record = self.sending.store.get(message_id)
        assert record is not None
        return record

    @property
    def dead_letters(self) -> list[DeadLetter]:
        return self.sending.queue.dead_letters


@pytest.fixture
def queue() -> Queue:
    return Queue()


def retry(message_id: str, **extra: object) -> str:
    return json.dumps({"kind": "retry", "messageId": message_id, **extra})


def test_a_retry_with_too_little_of_the_invocation_left_is_put_back_untouched(queue: Queue) -> None:
    queue.sending.rate.wait_s = 7.5
    draft = MessageDraft(to="+12025550143", content=SmsContent(text="Waiting for its turn"))
    message_id = queue.sending.sender.submit(draft, "https://hooks.example.test", TENANT).message.id
    turn, waiting = queue.sending.queue.turns[message_id], queue.sending.queue.waiting[message_id]
    before = (queue.stored(message_id), len(queue.sending.rate.asked_waits))
    body = json.dumps(
        {
            "kind": "retry",
            "messageId": message_id,
            "turn": {"place": turn.place},
            "waiting": {
                "api": waiting.key,
                "tenant": waiting.tenant_id,
                "calls": waiting.calls,
                "until": waiting.until,
            },
        }
    )

    # 8 s are a send's worst case (Sinch's 2 s and 5 s timeouts, the rate's 1 s): 7 s are too few.
    queue.intake.handle(read_queued(body), body, "sqs-retry", None, sender_id=GATEWAY_SENDER, time_left_s=7.0)

    assert (queue.stored(message_id), len(queue.sending.rate.asked_waits)) == before, "nothing done"
    assert queue.sending.queue.retries[-1] == (message_id, 0.0)
    assert queue.sending.queue.turns[message_id] == turn
    assert queue.sending.queue.waiting[message_id] == waiting


# --- published requests ------------------------------------------------------------------------


def test_a_published_request_is_stored_for_its_tenant_and_sent(queue: Queue) -> None:
    queue.sending.xms.on_send(Accepted(BATCH))

    message_id = queue.publish({**SMS, "clientReference": "from-sqs"}, sqs_id="sqs-42")

    record = queue.stored(message_id)
    assert message_id == queued_message_id(TENANT, "sqs-42", None)
    assert (record.tenant_id, record.client_reference, record.status) == (
        TENANT,
        "from-sqs",
        Status.SUBMITTED,
    )
    (sent,) = queue.sending.xms.sent
    assert (sent.reference, sent.to, sent.webhook_url) == (message_id, SMS["to"], CALLBACK)
    assert queue.dead_letters == []


def test_reports_go_to_the_public_base_url_when_one_is_set() -> None:
    queue = Queue(Sending(sender_settings(PUBLIC_BASE_URL="https://sms.example.com/")))
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.publish(SMS)

    assert queue.sending.xms.sent[0].webhook_url == (
        "https://sms.example.com/v1/webhooks/sinch/delivery-reports"
    )


def test_a_published_mms_has_its_media_checked_before_it_is_sent(queue: Queue) -> None:
    queue.sending.xms.on_send(Accepted(BATCH))

    message_id = queue.publish({"to": "+12025550143", "mediaUrl": MEDIA, "subject": "Sale"})

    assert queue.media_checked == [MEDIA]
    content = queue.stored(message_id).content
    assert isinstance(content, XmsMediaContent) and content.media_key is not None
    assert content == XmsMediaContent(media_url=MEDIA, media_key=content.media_key, subject="Sale")
    # Sinch is given the kept copy of what was checked, not the publisher's URL.
    [sent] = queue.sending.xms.sent
    assert isinstance(sent.content, XmsMediaContent)
    assert queue.sending.media.fetch(sent.content.media_url) == ("image/jpeg", JPEG)


def test_the_same_sqs_message_delivered_twice_is_one_message_sent_once(queue: Queue) -> None:
    queue.sending.xms.on_send(Accepted(BATCH))

    first = queue.publish(SMS, sqs_id="sqs-7")
    second = queue.publish(SMS, sqs_id="sqs-7")

    assert first == second
    assert len(queue.sending.xms.sent) == 1
    assert len(queue.sending.store.records()) == 1
    assert queue.dead_letters == [], "taken as the same message, not refused"


def test_one_idempotency_key_is_one_message_per_tenant(queue: Queue) -> None:
    queue.sending.xms.on_send(Accepted("b-1"), Accepted("b-2"))
    keyed = {**SMS, "idempotencyKey": "order-1234-shipped"}

    queue.publish(keyed, sqs_id="sqs-1")
    queue.publish(keyed, sqs_id="sqs-2")  # published again: same key, another SQS message
    queue.publish(keyed, sqs_id="sqs-3", tenant=OTHER_TENANT)  # another tenant's key

    ours = queue.stored(queued_message_id(TENANT, "ignored", "order-1234-shipped"))
    theirs = queue.stored(queued_message_id(OTHER_TENANT, "ignored", "order-1234-shipped"))
    assert (ours.tenant_id, ours.sinch_id) == (TENANT, "b-1")
    assert (theirs.tenant_id, theirs.sinch_id) == (OTHER_TENANT, "b-2")
    assert len(queue.sending.xms.sent) == 2


@pytest.mark.parametrize("attribute", [None, "", "   "])
def test_without_a_tenant_attribute_the_default_tenant_publishes(attribute: str | None) -> None:
    queue = Queue(Sending(sender_settings(DEFAULT_QUEUE_TENANT=OTHER_TENANT)))
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.publish(SMS, sqs_id="sqs-9", tenant=attribute)

    assert queue.stored(queued_message_id(OTHER_TENANT, "sqs-9", None)).tenant_id == OTHER_TENANT


@pytest.mark.parametrize(
    ("attribute", "reason"),
    [
        (None, "missing_tenant: the message has no `tenant` attribute (your API key id)"),
        ("nobody", "unknown_tenant: no tenant 'nobody' is registered"),
        ("x" * 300, f"unknown_tenant: no tenant {'x' * 64!r} is registered"),
    ],
)
def test_a_request_without_a_registered_tenant_is_parked_and_stored_nowhere(
    queue: Queue, attribute: str | None, reason: str
) -> None:
    body = json.dumps(SMS)

    queue.publish(body, tenant=attribute)

    assert queue.dead_letters == [DeadLetter(body, reason, None)]
    assert queue.sending.store.records() == []
    assert queue.sending.xms.calls == []


# --- who published it -------------------------------------------------------------------------

ROLE = "AROAEXAMPLEFULFILMENT"  # a publisher's role: its sessions publish as "<role id>:<session>"


def proven_queue(**settings: str) -> Queue:
    """TENANT published by PUBLISHER and by ROLE's sessions, OTHER_TENANT by another user."""
    return Queue(
        Sending(sender_settings(**settings)),
        tenants=FakeTenantStore(
            **{
                TENANT: TenantPolicy(publishers=frozenset({PUBLISHER, ROLE})),
                OTHER_TENANT: TenantPolicy(publishers=frozenset({"AIDAEXAMPLEOTHERUSER1"})),
            }
        ),
    )


@pytest.mark.parametrize("sender", [PUBLISHER, f"{ROLE}:fulfilment-service", f"{ROLE}:another-session"])
def test_a_request_from_one_of_the_tenants_publishers_is_taken(sender: str) -> None:
    queue = proven_queue()
    queue.sending.xms.on_send(Accepted(BATCH))

    message_id = queue.publish(SMS, sender=sender)

    assert queue.stored(message_id).status is Status.SUBMITTED
    assert queue.dead_letters == []


@pytest.mark.parametrize(
    ("sender", "named"),
    [
        ("AIDAEXAMPLEOTHERUSER1", "publisher 'AIDAEXAMPLEOTHERUSER1'"),  # the other tenant's
        (f"{SEND_ROLE_ID}:sinch-gateway-SendFunction", f"publisher '{SEND_ROLE_ID}:"),  # the gateway's
        ("AROAEXAMPLEFULFILMENTX:fulfilment", "publisher 'AROAEXAMPLEFULFILMENTX:"),  # a longer id
        (ROLE[:-1], f"publisher '{ROLE[:-1]}'"),
        (PUBLISHER.lower(), f"publisher '{PUBLISHER.lower()}'"),
        ("", "no SenderId"),
        (None, "no SenderId"),
    ],
)
def test_a_request_from_anyone_else_is_parked_not_authorized_and_recorded_nowhere(
    sender: str | None, named: str
) -> None:
    queue = proven_queue()
    body = json.dumps({**SMS, "clientReference": "forged", "statusCallbackUrl": "https://evil.example/cb"})

    queue.publish(body, sender=sender)

    (parked,) = queue.dead_letters
    assert parked.reason.startswith(f"tenant_not_authorized: {named}"), parked.reason
    assert parked.reason.endswith(f"is not a registered publisher of tenant {TENANT!r}")
    assert (parked.body, parked.message_id) == (body, None)
    assert queue.sending.store.records() == [], "no message for the tenant it named"
    assert queue.sending.xms.calls == []
    assert queue.media_checked == []


def test_the_default_tenant_needs_the_same_proof() -> None:
    queue = proven_queue(DEFAULT_QUEUE_TENANT=TENANT)
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.publish(SMS, sqs_id="sqs-1", tenant=None, sender="AIDAEXAMPLEOTHERUSER1")
    queue.publish(SMS, sqs_id="sqs-2", tenant=None, sender=PUBLISHER)

    (parked,) = queue.dead_letters
    assert parked.reason.startswith("tenant_not_authorized: ")
    assert [r.id for r in queue.sending.store.records()] == [queued_message_id(TENANT, "sqs-2", None)]


def test_a_request_naming_the_tenants_second_key_is_the_tenants() -> None:
    queue = proven_queue()
    queue.tenants.alias("newkey0001", TENANT)
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.publish(SMS, sqs_id="sqs-5", tenant="newkey0001")

    assert queue.stored(queued_message_id(TENANT, "sqs-5", None)).tenant_id == TENANT


SHOWN_AS = {
    "to": "+12025550143",
    "subject": "Sale",
    "fallbackText": "Our sale is on",
    "slides": [{"text": "Half price"}],
    "fromMask": "Acme",
}


@pytest.mark.parametrize("senders", [frozenset(), frozenset({"ACME", "Globex"})])
def test_a_from_mask_the_policy_does_not_allow_is_rejected_and_nothing_sent(senders: frozenset[str]) -> None:
    queue = Queue(tenants=FakeTenantStore(**{TENANT: TenantPolicy(publishers=PUBLISHERS, senders=senders)}))

    message_id = queue.publish(SHOWN_AS)

    record = queue.stored(message_id)
    assert (record.status, record.error_code) == (Status.REJECTED, "sender_not_allowed")
    assert record.error_text == "fromMask: 'Acme' is not among the sender ids allowed for this API key"
    assert queue.sending.mms.calls == []


def test_a_from_mask_the_policy_allows_is_sent_as_it_is() -> None:
    policy = TenantPolicy(publishers=PUBLISHERS, senders=frozenset({"Acme"}))
    queue = Queue(tenants=FakeTenantStore(**{TENANT: policy}))
    queue.sending.mms.on_send(Accepted("mms-1"))

    queue.publish(SHOWN_AS)

    (sent,) = queue.sending.mms.sent
    assert isinstance(sent.content, MmsSlidesContent) and sent.content.from_mask == "Acme"


LONE_SURROGATE = '{"to": "+12025550143", "text": "\\ud800"}'


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not json", "body is not JSON"),
        ("", "body is not JSON"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ("[]", "body: must be a JSON object"),
        ("null", "body: must be a JSON object"),
        ("42", "body: must be a JSON object"),
        ('"+12025550143"', "body: must be a JSON object"),
        ({"to": "+15551234567", "text": "x"}, "to: "),
        ({"text": "no recipient"}, "to: is required"),
        ({"to": "+12025550143"}, "text"),
        ({**SMS, "text": " \u200b "}, "text"),
        ({**SMS, "colour": "red"}, "colour: is not a known field"),
        ({**SMS, "media_url": MEDIA}, "media_url: is not a known field"),
        ({**SMS, "idempotencyKey": "line\nbreak"}, "idempotencyKey"),
        ({**SMS, "sendAt": "tomorrow"}, "sendAt"),
        ({"to": "+12025550143", "mediaUrl": "not a url"}, "mediaUrl"),
        (LONE_SURROGATE, "lone surrogate"),
        ('{"\\udc00": 1, "to": "+12025550143", "text": "x"}', "lone surrogate"),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_a_malformed_request_is_rejected_recorded_and_parked_with_the_reason(
    queue: Queue, body: object, why: str
) -> None:
    message_id = queue.publish(body, sqs_id="sqs-bad")

    record = queue.stored(message_id)
    assert (record.tenant_id, record.status, record.error_code) == (
        TENANT,
        Status.REJECTED,
        "invalid_request",
    )
    assert why in (record.error_text or "")
    assert record.events[-1].status is Status.REJECTED
    (parked,) = queue.dead_letters
    assert parked.message_id == message_id
    assert parked.reason == f"invalid_request: {record.error_text}"
    assert parked.body == (body if isinstance(body, str) else json.dumps(body))
    assert (queue.sending.xms.calls, queue.sending.queue.retries) == ([], [])


def test_a_rejected_request_keeps_its_client_reference_and_kind_not_its_content(queue: Queue) -> None:
    message_id = queue.publish({"to": "+15551234567", "mediaUrl": MEDIA, "clientReference": "order-7"})

    record = queue.stored(message_id)
    assert (record.client_reference, record.to, record.content) == (
        "order-7",
        "+15551234567",
        XmsMediaContent(media_url=""),
    )


@pytest.mark.parametrize(
    ("policy", "body", "code"),
    [
        (
            TenantPolicy(allowed_countries=frozenset({"US"}), publishers=PUBLISHERS),
            {**SMS, "to": "+61491570156"},
            "destination_not_allowed",
        ),
        (
            TenantPolicy(mms_allowed=False, publishers=PUBLISHERS),
            {"to": "+12025550143", "mediaUrl": MEDIA},
            "mms_not_allowed",
        ),
    ],
)
def test_a_request_the_tenants_policy_refuses_is_rejected_with_the_policys_code(
    monkeypatch: pytest.MonkeyPatch, policy: TenantPolicy, body: dict[str, str], code: str
) -> None:
    # The refusal names the country from phonenumbers' region-name table, seconds to import where
    # bytecode is not cached; its wording is test_tenants' concern, its code is this test's.
    monkeypatch.setattr(tenants, "country_label", lambda e164: "Australia (AU)")
    queue = Queue(tenants=FakeTenantStore(**{TENANT: policy}))

    message_id = queue.publish(body)

    record = queue.stored(message_id)
    assert (record.status, record.error_code) == (Status.REJECTED, code)
    (parked,) = queue.dead_letters
    assert parked.reason.startswith(f"{code}: ")
    assert queue.media_checked == [], "no media is fetched for a refused destination"
    assert queue.sending.xms.calls == []


def test_a_request_to_an_opted_out_recipient_is_rejected_and_parked_never_sent(queue: Queue) -> None:
    queue.opt_outs.set("+12025550143", SENDER, opted_out=True)

    message_id = queue.publish({**SMS, "mediaUrl": MEDIA})

    record = queue.stored(message_id)
    assert (record.status, record.error_code) == (Status.REJECTED, "recipient_opted_out")
    (parked,) = queue.dead_letters
    assert parked.reason.startswith("recipient_opted_out: to: has opted out")
    assert queue.media_checked == [], "no media is fetched for an opted-out recipient"
    assert queue.sending.xms.calls == [] and queue.sending.queue.retries == []


def test_an_opt_out_from_another_sender_number_does_not_stop_a_request(queue: Queue) -> None:
    queue.opt_outs.set("+12025550143", "+12025550199", opted_out=True)
    queue.sending.xms.on_send(Accepted(BATCH))

    message_id = queue.publish(SMS)

    assert queue.stored(message_id).status is Status.SUBMITTED


def test_media_that_fails_its_check_is_rejected_with_the_check(queue: Queue) -> None:
    queue.media_refusal = InvalidRequest(
        "mediaUrl is not acceptable", errors=[("mediaUrl", "has Content-Type text/html")]
    )

    message_id = queue.publish({"to": "+12025550143", "mediaUrl": MEDIA})

    record = queue.stored(message_id)
    assert (record.status, record.error_code, record.error_text) == (
        Status.REJECTED,
        "invalid_request",
        "mediaUrl: has Content-Type text/html",
    )
    assert queue.sending.xms.calls == []


def test_media_that_may_pass_later_is_rejected_as_unavailable_after_its_whole_budget(queue: Queue) -> None:
    queue.media_refusal = MediaUnavailable("Not now.", errors=[("mediaUrl", "answered HTTP 503")])

    message_id = queue.publish({"to": "+12025550143", "mediaUrl": MEDIA}, time_left_s=15)

    assert queue.media_budgets == [None]  # 15 s leave the whole budget and a send's worst case (8 s)
    record = queue.stored(message_id)
    assert (record.status, record.error_code) == (Status.REJECTED, "media_unavailable")
    [parked] = queue.dead_letters
    assert parked.reason.startswith("media_unavailable: mediaUrl: answered HTTP 503")


@pytest.mark.parametrize(("time_left_s", "budget_s"), [(10.0, 2.0), (6.0, 0.0)])
def test_media_cut_short_by_the_invocations_end_is_delivered_again_not_rejected(
    queue: Queue, time_left_s: float, budget_s: float
) -> None:
    queue.media_refusal = MediaUnavailable(
        "Out of time.", errors=[("mediaUrl", "could not be fetched in time")]
    )

    with pytest.raises(OutOfTime):  # SQS delivers it again, to an invocation with time for it
        queue.publish({"to": "+12025550143", "mediaUrl": MEDIA}, time_left_s=time_left_s)

    assert queue.media_budgets == [pytest.approx(budget_s)]
    assert queue.sending.store.records() == [] and queue.dead_letters == []
    assert queue.sending.xms.calls == []


def test_an_sms_late_in_an_invocation_is_sent_all_the_same(queue: Queue) -> None:
    queue.sending.xms.on_send(Accepted("batch-1"))
    message_id = queue.publish({"to": "+12025550143", "text": "Hi"}, time_left_s=9)
    assert queue.stored(message_id).status is Status.SUBMITTED


def test_a_callback_url_the_rules_refuse_is_rejected_with_the_reason_and_never_called(queue: Queue) -> None:
    queue.callback_refusal = InvalidRequest(
        "The statusCallbackUrl cannot be used.",
        errors=[
            (
                "statusCallbackUrl",
                "resolves to a forbidden address (private, loopback, link-local or reserved)",
            )
        ],
    )

    message_id = queue.publish(
        {"to": "+12025550143", "text": "Hi", "statusCallbackUrl": "https://10.0.0.1/cb"}
    )

    record = queue.stored(message_id)
    assert (record.status, record.error_text) == (
        Status.REJECTED,
        "statusCallbackUrl: resolves to a forbidden address (private, loopback, link-local or reserved)",
    )
    assert record.status_callback_url is None, "a refused URL is never called back"
    assert queue.sending.xms.calls == []


def test_a_published_request_keeps_its_callback_url(queue: Queue) -> None:
    queue.sending.xms.on_send(Accepted(BATCH))
    message_id = queue.publish(
        {"to": "+12025550143", "text": "Hi", "statusCallbackUrl": "https://hooks.example.com/a"}
    )
    assert queue.stored(message_id).status_callback_url == "https://hooks.example.com/a"


def test_a_published_mms_of_slides_goes_through_the_mms_api_with_its_media_checked(queue: Queue) -> None:
    queue.sending.mms.on_send(Accepted("tracking-1"))
    body = {
        "to": "+12025550143",
        "subject": "Spring sale",
        "fallbackText": "See the sale at example.com",
        "slides": [{"text": "Up to 50% off"}, {"mediaUrl": MEDIA}],
    }

    message_id = queue.publish(body)

    record = queue.stored(message_id)
    assert (record.status, record.sinch_id) == (Status.SUBMITTED, "tracking-1")
    assert isinstance(record.content, MmsSlidesContent)
    assert [[m.content_type for m in s.media] for s in record.content.slides] == [[], ["image/jpeg"]]
    assert queue.media_checked == [MEDIA]
    assert (queue.sending.xms.calls, [m.reference for m in queue.sending.mms.sent]) == ([], [message_id])


def ready_template(tenant_id: str = TENANT) -> MmsTemplate:
    return MmsTemplate(
        tenant_id=tenant_id,
        name="sale",
        subject="Spring sale",
        slides=(Slide(text="Up to 50% off"),),
        fallback_text="See the sale at example.com",
        status=TemplateStatus.READY,
        mms_id="sinch-template-7",
    )


def test_a_published_request_for_a_saved_template_sends_it(queue: Queue) -> None:
    template = ready_template()
    queue.templates.create(template)
    queue.sending.mms.on_send(Accepted("tracking-2"))

    message_id = queue.publish({"to": "+12025550143", "templateId": template.id})

    record = queue.stored(message_id)
    assert isinstance(record.content, MmsTemplateContent)
    assert (record.content.mms_id, record.content.fallback_text) == (
        "sinch-template-7",
        "See the sale at example.com",
    )
    assert record.status is Status.SUBMITTED


@pytest.mark.parametrize("owner", ["nobody-registered", OTHER_TENANT])
def test_a_template_that_is_not_the_tenants_is_rejected_and_parked(queue: Queue, owner: str) -> None:
    queue.templates.create(other := ready_template(owner))

    message_id = queue.publish({"to": "+12025550143", "templateId": other.id})

    record = queue.stored(message_id)
    assert (record.status, record.error_code) == (Status.REJECTED, "invalid_request")
    assert "templateId" in (record.error_text or "")
    assert [d.message_id for d in queue.dead_letters] == [message_id]
    assert queue.sending.mms.calls == []


@pytest.mark.parametrize("status", [TemplateStatus.PENDING, TemplateStatus.FAILED])
def test_a_template_not_ready_is_rejected_and_parked_not_redelivered(
    queue: Queue, status: TemplateStatus
) -> None:
    template = ready_template().model_copy(update={"status": status, "mms_id": None})
    queue.templates.create(template)

    message_id = queue.publish({"to": "+12025550143", "templateId": template.id})

    record = queue.stored(message_id)
    assert (record.status, record.error_code) == (Status.REJECTED, "template_not_ready")
    assert status.value in (record.error_text or "")
    assert [d.message_id for d in queue.dead_letters] == [message_id]
    assert queue.sending.mms.calls == []


# Bodies near a request's shape: each field of a request holding any JSON value (or text).
NEAR_REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        name: json_values(max_leaves=4, max_items=3) | st.text(max_size=30)
        for name in ("to", "text", "mediaUrl", "subject", "clientReference", "sendAt", "idempotencyKey")
    },
)


@given(
    (json_values() | NEAR_REQUESTS | st.just(SMS)).filter(
        lambda body: not (isinstance(body, dict) and body.get("kind") == "retry")
    )
)
def test_whatever_a_published_body_holds_it_is_sent_once_or_rejected_and_parked(body: object) -> None:
    queue = Queue()
    queue.sending.xms.on_send(Accepted(BATCH))

    message_id = queue.publish(body)  # raises nothing

    if isinstance(body, dict) and isinstance(body.get("to"), list):  # a batch request
        if queue.batches.batches:
            [batch] = queue.batches.batches.values()
            assert batch.id == message_id
            assert queue.dead_letters == []
            assert len(queue.sending.queue.slices) == batch.slices
        else:
            assert [d.body for d in queue.dead_letters] == [json.dumps(body)]
            assert queue.sending.queue.slices == []
        assert queue.sending.store.records() == []
        return
    record = queue.stored(message_id)
    if record.status is Status.REJECTED:
        assert [d.message_id for d in queue.dead_letters] == [message_id]
        assert queue.sending.xms.calls == []
    else:
        assert (record.status, queue.dead_letters) == (Status.SUBMITTED, [])
        assert [m.reference for m in queue.sending.xms.sent] == [message_id]


# --- published batches -------------------------------------------------------------------------


def test_a_published_batch_is_recorded_for_its_tenant_and_its_slices_queued(queue: Queue) -> None:
    queue.opt_outs.set("+12025550145", SENDER, opted_out=True)

    batch_id = queue.publish(
        {
            "to": ["+12025550143", "+12025550144", "+12025550145", "junk"],
            "text": "Hi ${n}",
            "parameters": {"n": {"default": "you"}},
        },
        sqs_id="sqs-7",
    )

    batch = queue.batches.batches[batch_id]
    assert (batch.tenant_id, batch.recipients, batch.refused, batch.webhook_url) == (TENANT, 2, 2, CALLBACK)
    [(queued, _)] = queue.sending.queue.slices
    assert [r.to for r in queued.recipients] == ["+12025550143", "+12025550144"]
    assert queue.dead_letters == []
    assert queue.sending.xms.calls == []  # the fan-out sends, not the intake


def test_a_published_batch_delivered_twice_is_one_batch(queue: Queue) -> None:
    body = {"to": ["+12025550143"], "text": "Hi", "idempotencyKey": "campaign-1"}

    queue.publish(body, sqs_id="sqs-1")
    queue.publish(body, sqs_id="sqs-2")

    assert list(queue.batches.batches) == [queued_message_id(TENANT, "sqs-any", "campaign-1")]
    # Queued again: the fan-out finds each recipient's message made already, and sends it once.
    assert [s.batch_id for s, _ in queue.sending.queue.slices] == list(queue.batches.batches) * 2


def test_a_published_batch_with_every_recipient_refused_is_parked_with_why(queue: Queue) -> None:
    body = json.dumps({"to": ["junk", "+12025550143", "+1 202 555 0143"], "text": "Hi ${missing}"})

    queue.publish(body)

    [parked] = queue.dead_letters
    assert parked.body == body
    assert parked.reason.startswith("all_recipients_refused: ")
    assert "malformed" in parked.reason and "missing_parameter" in parked.reason
    assert "+12025550143" not in parked.reason  # numbers are masked
    assert (queue.batches.batches, queue.sending.queue.slices) == ({}, [])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"to": ["+12025550143"]}, "invalid_request: text: is required"),
        (
            {"to": ["+12025550143"], "text": "Hi", "parameters": {"bad name": {}}},
            "invalid_request: parameters",
        ),
        ({"to": [], "text": "Hi"}, "invalid_request: to: must not be empty"),
    ],
)
def test_a_published_batch_that_is_no_batch_is_parked_with_why(
    queue: Queue, body: dict[str, object], reason: str
) -> None:
    queue.publish(body)

    [parked] = queue.dead_letters
    assert parked.reason.startswith(reason), parked.reason
    assert (queue.batches.batches, queue.sending.queue.slices) == ({}, [])


def test_a_published_batch_from_someone_else_is_parked_not_authorized(queue: Queue) -> None:
    queue.publish({"to": ["+12025550143"], "text": "Hi"}, sender="AIDAEXAMPLESTRANGER01")

    [parked] = queue.dead_letters
    assert parked.reason.startswith("tenant_not_authorized")
    assert queue.batches.batches == {}


# --- retries -----------------------------------------------------------------------------------


def waiting(queue: Queue) -> str:
    queue.sending.xms.on_send(Transient("sinch_503"))
    return queue.publish(SMS, sqs_id="sqs-first")


def test_a_retry_makes_the_next_attempt(queue: Queue) -> None:
    message_id = waiting(queue)
    queue.sending.xms.on_find(NotFound())
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.retried(retry(message_id))

    assert queue.stored(message_id).status is Status.SUBMITTED
    assert queue.dead_letters == []


def test_a_retry_of_a_sent_message_sends_nothing(queue: Queue) -> None:
    queue.sending.xms.on_send(Accepted(BATCH))
    message_id = queue.publish(SMS)

    queue.retried(retry(message_id))

    assert len(queue.sending.xms.calls) == 1
    assert queue.dead_letters == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (retry("3f1e9d3c-0000-4000-8000-000000000000"), "unknown_message: "),
        (retry("no-such-message"), "unknown_message: "),
        (json.dumps({"kind": "retry"}), "invalid_request: a retry without a messageId"),
        (json.dumps({"kind": "retry", "messageId": ""}), "invalid_request: a retry without a messageId"),
    ],
)
def test_a_retry_that_names_no_message_is_parked(queue: Queue, body: str, reason: str) -> None:
    queue.retried(body)

    (parked,) = queue.dead_letters
    assert (parked.body, parked.message_id) == (body, None)
    assert parked.reason.startswith(reason)
    assert queue.sending.store.records() == []


@pytest.mark.parametrize("sender", [f"{SEND_ROLE_ID}:sinch-gateway-SendFunction", GATEWAY_SENDER])
def test_the_gateways_own_functions_retry(queue: Queue, sender: str) -> None:
    message_id = waiting(queue)
    queue.sending.xms.on_find(NotFound())
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.retried(retry(message_id), sender=sender)

    assert queue.stored(message_id).status is Status.SUBMITTED


@pytest.mark.parametrize("sender", [PUBLISHER, "AROAEXAMPLEFULFILMENT:svc", f"{SEND_ROLE_ID}X:svc", None])
def test_a_retry_from_anyone_else_is_parked_and_attempts_nothing(queue: Queue, sender: str | None) -> None:
    # A retry names any tenant's message: taken from a publisher, it would make another tenant's
    # message be attempted now, past its backoff, using up its attempts.
    message_id = waiting(queue)
    calls = len(queue.sending.xms.calls)
    before = queue.stored(message_id)

    queue.retried(retry(message_id), sender=sender)

    assert len(queue.sending.xms.calls) == calls, "nothing attempted"
    assert queue.stored(message_id) == before
    (parked,) = [d for d in queue.dead_letters if d.reason.startswith("retry_not_authorized")]
    assert parked.message_id is None


def test_a_retry_not_due_yet_goes_round_the_queue_again(queue: Queue) -> None:
    message_id = waiting(queue)
    queue.sending.queue.retries.clear()
    due = time.time() + 3600

    queue.retried(retry(message_id, notBefore=due))

    assert len(queue.sending.xms.calls) == 1, "not sent before its time"
    ((again, delay_s),) = queue.sending.queue.retries
    assert again == message_id
    assert 3590 < delay_s <= 3600
    assert queue.stored(message_id).status is Status.RETRYING


def test_a_retry_brings_back_the_place_its_message_keeps_in_the_rate(queue: Queue) -> None:
    message_id = waiting(queue)
    queue.sending.xms.on_find(NotFound())
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.retried(retry(message_id, turn={"place": 12.5, "capAt": 1.8e9}))

    assert queue.sending.rate.turns[-1] == Turn(12.5, 1.8e9)
    assert queue.stored(message_id).status is Status.SUBMITTED


def test_a_retry_going_round_again_keeps_its_place(queue: Queue) -> None:
    message_id = waiting(queue)
    queue.sending.queue.retries.clear()

    queue.retried(retry(message_id, notBefore=time.time() + 3600, turn={"place": 7.0}))

    assert queue.sending.queue.turns == {message_id: Turn(7.0)}


@pytest.mark.parametrize("turn", [{"place": "soon"}, {"place": None}, "first", {"capAt": 5}, [1, 2]])
def test_a_retry_whose_place_cannot_be_read_is_still_attempted_from_the_back(
    queue: Queue, turn: object
) -> None:
    message_id = waiting(queue)
    queue.sending.xms.on_find(NotFound())
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.retried(retry(message_id, turn=turn))

    assert queue.sending.rate.turns[-1] is None
    assert queue.stored(message_id).status is Status.SUBMITTED
    assert queue.dead_letters == []


@pytest.mark.parametrize("late_s", [-0.5, 60.0])
def test_a_retry_that_is_due_is_attempted(queue: Queue, late_s: float) -> None:
    message_id = waiting(queue)
    queue.sending.xms.on_find(NotFound())
    queue.sending.xms.on_send(Accepted(BATCH))

    queue.retried(retry(message_id, notBefore=time.time() - late_s))

    assert queue.stored(message_id).status is Status.SUBMITTED
