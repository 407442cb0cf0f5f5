"""In-memory fakes of the use cases' ports, with the semantics of the adapters they stand for.

The message store keeps items as DynamoDB holds them (the record's JSON form, read back through
the model) and applies the same conditions as `data.messages.MessageRepository`: a create only
where no item is, a claim only of a sendable message whose lease has ended, statuses only forward
(`retrying` may repeat), an event that repeats the last one folded into it, and a repeatable
event (a retry's, a stale report's) kept only below MAX_EVENTS events. The channel answers only
what a test scripted, and records every call: an unscripted call fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aws_lambda_powertools import Metrics

from sinch_gateway import config
from sinch_gateway.config import QueueSettings
from sinch_gateway.domain.batches import BatchRecord, BatchSlice, BatchStatus
from sinch_gateway.domain.content import Api
from sinch_gateway.domain.inbound import Action, InboundMessage, sender_key
from sinch_gateway.domain.message import (
    MAX_EVENTS,
    UNCHANGED,
    Advanced,
    Change,
    MessageRecord,
    Placement,
    StatusEvent,
    placement,
    utcnow,
)
from sinch_gateway.domain.outcomes import (
    CallOutcome,
    DryRunOutcome,
    LookupOutcome,
    NotOffered,
    OutboundBatch,
    OutboundMessage,
    ReportOutcome,
    SendOutcome,
)
from sinch_gateway.domain.rate_share import Grant, RateShare, Turn, Waiting
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status, Transition
from sinch_gateway.domain.status_callbacks import ReceiverHealth
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus
from sinch_gateway.domain.tenants import Tenant, TenantPolicy
from sinch_gateway.domain.webhook_auth import WebhookProof, signature
from sinch_gateway.sinch.credentials import WebhookSecrets
from sinch_gateway.usecases.fan_out import FanOut
from sinch_gateway.usecases.sending import MessageSender
from sinch_gateway.usecases.settling import Settler

if TYPE_CHECKING:
    from sinch_gateway.usecases.admission import TemplateLookup
    from sinch_gateway.usecases.inbound_intake import InboundStore
    from sinch_gateway.usecases.ports import (
        BatchChannel,
        BatchMessages,
        BatchStore,
        MediaStore,
        MessageStore,
        OptOutLookup,
        ReceiverHealthStore,
        RetryQueue,
        SendRate,
        SinchChannel,
        TenantStore,
    )
    from sinch_gateway.usecases.report_intake import TemplateSettler, UnmatchedStore
    from sinch_gateway.usecases.templates import TemplateStore
    from sinch_gateway.usecases.webhook_authenticator import SecretSource


class Clock:
    """Epoch seconds that move only when a test moves them."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeMessageStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._items: dict[str, dict[str, Any]] = {}
        self._leases: dict[str, float] = {}
        self.nonces: dict[str, set[str]] = {}  # the signed reports' nonces each message took
        self.bulk_calls: list[tuple[str, int]] = []  # each bulk method called, with how many

    # --- for tests -----------------------------------------------------------------------------
    def seed(self, record: MessageRecord) -> MessageRecord:
        """Put a message as it is, as if stored earlier (a submitted one, one with events...)."""
        self._items[record.id] = record.model_dump(mode="json")
        return record

    def records(self) -> list[MessageRecord]:
        return [MessageRecord.model_validate(item) for item in self._items.values()]

    def held(self, message_id: str) -> bool:
        """Whether a sender's lease on the message is still running."""
        return self._leases.get(message_id, 0.0) >= self._clock()

    # --- MessageStore --------------------------------------------------------------------------
    def create_claimed(self, record: MessageRecord, lease_s: int) -> MessageRecord | None:
        claimed = record.model_copy(update={"attempts": record.attempts + 1})
        if not self.create(claimed):
            return None
        self._leases[record.id] = self._clock() + lease_s
        return claimed

    def create(self, record: MessageRecord) -> bool:
        if record.id in self._items:
            return False
        self.seed(record)
        return True

    def create_all(self, records: Sequence[MessageRecord], lease_s: int | None = None) -> list[MessageRecord]:
        self.bulk_calls.append(("create_all", len(records)))
        made = [
            self.create_claimed(r, lease_s) if lease_s is not None else r if self.create(r) else None
            for r in records
        ]
        return [r for r in made if r is not None]

    def get_all(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
        return {i: r for i in message_ids if (r := self.get(i)) is not None}

    def claim_all(
        self, message_ids: Sequence[str], lease_s: int, call_reference: str | None = None
    ) -> list[MessageRecord]:
        self.bulk_calls.append(("claim_all", len(message_ids)))
        claimed: list[MessageRecord] = []
        for message_id in message_ids:
            before = self.get(message_id)
            if before is not None and self.claim(message_id, lease_s) is not None:
                claimed.append(before)
                if call_reference:
                    self._items[message_id]["callReference"] = call_reference
        return claimed

    def advance_all(
        self, records: Sequence[MessageRecord], event: StatusEvent, change: Change = UNCHANGED
    ) -> dict[str, Advanced]:
        self.bulk_calls.append(("advance_all", len(records)))
        return {r.id: self.advance(r.id, event, change=change) for r in records}

    def get(self, message_id: str) -> MessageRecord | None:
        item = self._items.get(message_id)
        # Past its TTL an item counts as gone, as the repository reads it.
        if item is None or (item["ttl"] is not None and item["ttl"] <= self._clock()):
            return None
        return MessageRecord.model_validate(item)

    def get_for_tenant(self, tenant_id: str, message_id: str) -> MessageRecord | None:
        record = self.get(message_id)
        return record if record is not None and record.tenant_id == tenant_id else None

    def count_by_status(self, batch_id: str) -> dict[Status, int]:
        counts: dict[Status, int] = {}
        for record in self.records():
            if record.batch_id == batch_id and self.get(record.id) is not None:
                counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def claim(self, message_id: str, lease_s: int) -> MessageRecord | None:
        item = self._items.get(message_id)
        if item is None or Status(item["status"]) not in SENDABLE_STATUSES or self.held(message_id):
            return None
        item.update(attempts=item["attempts"] + 1, updatedAt=utcnow().isoformat())
        self._leases[message_id] = self._clock() + lease_s
        return MessageRecord.model_validate(item)

    def transition(
        self,
        message_id: str,
        status: Status,
        *,
        code: int | str | None = None,
        detail: str | None = None,
        at: Any = None,
        seen_events: Sequence[StatusEvent] | None = None,
        change: Change = UNCHANGED,
    ) -> Transition:
        event = StatusEvent(status=status, at=at or utcnow(), code=code, detail=detail)
        return self.advance(message_id, event, change=change).transition

    def advance(
        self,
        message_id: str,
        event: StatusEvent,
        *,
        once: str | None = None,
        seen_events: Sequence[StatusEvent] | None = None,  # the store knows better
        change: Change = UNCHANGED,
    ) -> Advanced:
        item = self._items.get(message_id)
        if item is None:
            return Advanced(Transition.MISSING)
        if once is not None and once in self.nonces.get(message_id, set()):
            return Advanced(Transition.REPLAYED)
        current = Status(item["status"])
        repeatable = event.status in SENDABLE_STATUSES
        if not (current.rank <= event.status.rank if repeatable else current.rank < event.status.rank):
            return Advanced(Transition.STALE)
        # A status move ranks above every event held: only a retry's may repeat one, or not be kept.
        events = self._recorded(item["events"], event) if repeatable else [*item["events"], event]
        before = MessageRecord.model_validate(item)
        updated = {
            **before.model_dump(by_alias=False, exclude=set(change.cleared)),
            **change.values(),
            "status": event.status,
            "updated_at": utcnow(),
            "events": before.events if events is None else events,
        }
        # Through the model, as a read would: a value that cannot be stored fails here too.
        record = MessageRecord.model_validate(updated)
        self._items[message_id] = record.model_dump(mode="json")
        self._leases.pop(message_id, None)
        self._took(message_id, once)
        return Advanced(Transition.MOVED, record if record.status.is_final else None)

    def append_event(self, message_id: str, event: StatusEvent, *, once: str | None = None) -> bool:
        item = self._items.get(message_id)
        nonces = self.nonces.get(message_id, set())
        if item is None or once in nonces or (once is not None and len(nonces) >= MAX_EVENTS):
            return False
        events = self._recorded(item["events"], event)
        if events is None:
            return False
        item["events"] = [e.model_dump(mode="json") for e in events]
        self._took(message_id, once)
        return True

    @staticmethod
    def _recorded(stored: list[dict[str, Any]], event: StatusEvent) -> list[StatusEvent] | None:
        """The events with `event` kept (folded or appended); None when it is not kept."""
        events = [StatusEvent.model_validate(e) for e in stored]
        match placement(events, event):
            case Placement.FOLD:
                return [*events[:-1], event.folded_into(events[-1])]
            case Placement.APPEND:
                return [*events, event]
            case Placement.NOWHERE:
                return None

    def _took(self, message_id: str, once: str | None) -> None:
        if once is not None:
            self.nonces.setdefault(message_id, set()).add(once)

    def set_sinch_id(self, message_id: str, sinch_id: str) -> None:
        item = self._items.get(message_id)
        if item is None:
            raise KeyError(f"no message {message_id}")  # the repository's condition fails likewise
        item.update(batchId=sinch_id, updatedAt=utcnow().isoformat())
        self._leases.pop(message_id, None)


Arg = TypeVar("Arg")
Outcome = TypeVar("Outcome")
CallKind = Literal["send", "send_batch", "find", "cancel", "dry_run", "report"]


def _always(outcome: Outcome) -> Callable[[object], Outcome]:
    return lambda _: outcome


@dataclass
class ScriptedChannel:
    """A Sinch channel answering what the test queued, in order, and recording every call.

    An answer is an outcome, or a function of the call's argument giving one: for an answer that
    comes with a side effect, such as a delivery report arriving while Sinch answers.
    """

    api: Api = Api.XMS
    settle_s: float = 10.0
    calls: list[tuple[CallKind, OutboundMessage | OutboundBatch | str]] = field(default_factory=list)
    _sends: deque[Callable[[OutboundMessage], SendOutcome]] = field(default_factory=deque)
    _batch_sends: deque[Callable[[OutboundBatch], SendOutcome]] = field(default_factory=deque)
    _finds: deque[Callable[[str], LookupOutcome]] = field(default_factory=deque)
    _reports: deque[Callable[[str], ReportOutcome]] = field(default_factory=deque)
    _cancels: deque[Callable[[str], CallOutcome | NotOffered]] = field(default_factory=deque)
    _dry_runs: deque[Callable[[OutboundMessage], DryRunOutcome]] = field(default_factory=deque)

    # Outcomes are frozen dataclasses, never callable: a callable answer is a scripted function.
    def on_send(self, *answers: SendOutcome | Callable[[OutboundMessage], SendOutcome]) -> None:
        self._sends.extend(a if callable(a) else _always(a) for a in answers)

    def on_send_batch(self, *answers: SendOutcome | Callable[[OutboundBatch], SendOutcome]) -> None:
        self._batch_sends.extend(a if callable(a) else _always(a) for a in answers)

    def on_find(self, *answers: LookupOutcome | Callable[[str], LookupOutcome]) -> None:
        self._finds.extend(a if callable(a) else _always(a) for a in answers)

    def on_report(self, *answers: ReportOutcome | Callable[[str], ReportOutcome]) -> None:
        self._reports.extend(a if callable(a) else _always(a) for a in answers)

    def on_cancel(
        self, *answers: CallOutcome | NotOffered | Callable[[str], CallOutcome | NotOffered]
    ) -> None:
        self._cancels.extend(a if callable(a) else _always(a) for a in answers)

    def on_dry_run(self, *answers: DryRunOutcome | Callable[[OutboundMessage], DryRunOutcome]) -> None:
        self._dry_runs.extend(a if callable(a) else _always(a) for a in answers)

    def called(self, kind: CallKind) -> list[OutboundMessage | OutboundBatch | str]:
        return [arg for k, arg in self.calls if k == kind]

    @property
    def batches_sent(self) -> list[OutboundBatch]:
        return [m for m in self.called("send_batch") if isinstance(m, OutboundBatch)]

    @property
    def sent(self) -> list[OutboundMessage]:
        return [m for m in self.called("send") if isinstance(m, OutboundMessage)]

    def send(self, message: OutboundMessage) -> SendOutcome:
        return self._answer("send", self._sends, message)

    def send_batch(self, batch: OutboundBatch) -> SendOutcome:
        return self._answer("send_batch", self._batch_sends, batch)

    def find(self, reference: str) -> LookupOutcome:
        return self._answer("find", self._finds, reference)

    def report(self, sinch_id: str, recipient: str) -> ReportOutcome:
        return self._answer("report", self._reports, f"{sinch_id}/{recipient}")

    def cancel(self, sinch_id: str) -> CallOutcome | NotOffered:
        return self._answer("cancel", self._cancels, sinch_id)

    def dry_run(self, message: OutboundMessage) -> DryRunOutcome:
        return self._answer("dry_run", self._dry_runs, message)

    def _answer(self, kind: CallKind, script: deque[Callable[[Arg], Outcome]], arg: Arg) -> Outcome:
        assert isinstance(arg, OutboundMessage | OutboundBatch | str)
        self.calls.append((kind, arg))
        if not script:
            raise AssertionError(f"unexpected {kind} to Sinch: the test scripted no answer for it")
        return script.popleft()(arg)


@dataclass(frozen=True)
class DeadLetter:
    body: str
    reason: str
    message_id: str | None


@dataclass
class FakeRetryQueue:
    retries: list[tuple[str, float]] = field(default_factory=list)
    settle_checks: list[tuple[str, float]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    turns: dict[str, Turn] = field(default_factory=dict)  # the place each waiting message keeps
    waiting: dict[str, Waiting] = field(default_factory=dict)  # what it asks of the rate then
    slices: list[tuple[BatchSlice, float]] = field(default_factory=list)
    settle_bodies: list[tuple[tuple[str, ...], float]] = field(default_factory=list)  # one per call

    def enqueue_retry(
        self, message_id: str, delay_s: float, turn: Turn | None = None, waiting: Waiting | None = None
    ) -> None:
        self.retries.append((message_id, delay_s))
        if turn is not None:
            self.turns[message_id] = turn
        else:
            self.turns.pop(message_id, None)
        if waiting is not None:
            self.waiting[message_id] = waiting
        else:
            self.waiting.pop(message_id, None)

    def enqueue_settle(self, message_id: str, delay_s: float) -> None:
        self.settle_checks.append((message_id, delay_s))

    def enqueue_settle_all(self, message_ids: Sequence[str], delay_s: float) -> None:
        self.settle_bodies.append((tuple(message_ids), delay_s))

    def enqueue_slice(self, batch_slice: BatchSlice, delay_s: float = 0.0) -> None:
        self.slices.append((batch_slice, delay_s))

    def dead_letter(self, body: str, reason: str, message_id: str | None) -> None:
        self.dead_letters.append(DeadLetter(body, reason, message_id))


class FakeBatchStore:
    """Batches by id, as BatchesTable holds them (a cancel is final)."""

    def __init__(self) -> None:
        self.batches: dict[str, BatchRecord] = {}

    def create(self, batch: BatchRecord) -> bool:
        if batch.id in self.batches:
            return False
        self.batches[batch.id] = batch
        return True

    def get(self, batch_id: str) -> BatchRecord | None:
        return self.batches.get(batch_id)

    def get_for_tenant(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        batch = self.get(batch_id)
        return batch if batch is not None and batch.tenant_id == tenant_id else None

    def set_status(self, batch_id: str, status: BatchStatus) -> BatchRecord | None:
        batch = self.get(batch_id)
        if batch is None or batch.status is BatchStatus.CANCELLED:
            return batch
        self.batches[batch_id] = replace(batch, status=status, updated_at=datetime.now(UTC))
        return self.batches[batch_id]


@dataclass
class FakeRate:
    """A shared rate that has room, or is full for `wait_s`; records what was asked of it.
    A message told to wait keeps `turn` (FakeRate.TURN)."""

    TURN = Turn(place=42.0)

    wait_s: float = 0.0
    acquired: list[tuple[str, int]] = field(default_factory=list)
    shares: list[RateShare] = field(default_factory=list)
    turns: list[Turn | None] = field(default_factory=list)
    held_off: list[tuple[str, float]] = field(default_factory=list)
    asked_waits: list[Turn] = field(default_factory=list)  # turns asked about, taking nothing

    def acquire(
        self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn | None = None
    ) -> Grant:
        self.shares.append(share)
        self.turns.append(turn)
        if self.wait_s > max_wait_s:
            return Grant(0, self.wait_s, self.TURN)
        self.acquired.append((key, calls))
        return Grant(calls)

    def waits(self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn) -> Grant | None:
        self.asked_waits.append(turn)
        return Grant(0, self.wait_s, turn) if self.wait_s > max_wait_s else None

    def hold_off(self, key: str, seconds: float) -> None:
        self.held_off.append((key, seconds))


class FakeTenantStore:
    def __init__(self, **policies: TenantPolicy) -> None:
        self._tenants = {
            tenant_id: Tenant(tenant_id=tenant_id, name=tenant_id, policy=policy)
            for tenant_id, policy in policies.items()
        }
        self._aliases: dict[str, str] = {}

    def get(self, tenant_id: str) -> Tenant | None:
        return self._tenants.get(self._aliases.get(tenant_id, tenant_id))

    def put(self, tenant: Tenant) -> None:
        self._tenants[tenant.tenant_id] = tenant

    def alias(self, key_id: str, tenant_id: str) -> None:
        """A second API key of the tenant (key rotation): it names the tenant itself."""
        self._aliases[key_id] = tenant_id

    def set_secret(self, tenant_id: str, callback_secret: str | None) -> None:
        self._tenants[tenant_id] = self._tenants[tenant_id].model_copy(
            update={"callback_secret": callback_secret}
        )

    def policy(self, tenant_id: str) -> TenantPolicy:
        # A key without an item gets the default policy, as TenantDirectory gives it.
        tenant = self.get(tenant_id)
        return tenant.policy if tenant is not None else TenantPolicy()


KeptReason = Literal["unknown_message", "unknown_status", "received"]


@dataclass
class FakeUnmatchedStore:
    """Raw reports kept: those no message took, and every postback as it arrived."""

    kept: dict[str, tuple[KeptReason, str]] = field(default_factory=dict)
    nonces: dict[str, str] = field(default_factory=dict)  # the nonce each copy was kept under

    def keep(
        self, batch_id: str, raw: str, reason: KeptReason, kind: str = "unmatched", *, once: str | None = None
    ) -> str | None:
        # One copy per body, as the real store keys it: a resent report overwrites its first copy.
        item_id = f"{kind}#{batch_id}#{hashlib.sha256(raw.encode()).hexdigest()[:32]}"
        if once is not None and self.nonces.get(item_id) == once:
            return None
        self.kept[item_id] = (reason, raw)
        if once is not None:
            self.nonces[item_id] = once
        return item_id

    def of_kind(self, kind: str) -> list[tuple[KeptReason, str]]:
        return [kept for item_id, kept in self.kept.items() if item_id.startswith(f"{kind}#")]


class FakeTemplateStore:
    """Saved MMS templates, settled once: only a pending template becomes ready or failed."""

    def __init__(self, *templates: MmsTemplate) -> None:
        self._templates = {t.id: t.model_copy() for t in templates}

    def create(self, template: MmsTemplate) -> None:
        if template.id in self._templates:
            raise KeyError(f"template {template.id} exists")  # the repository's condition fails likewise
        self._templates[template.id] = template.model_copy()

    def get(self, template_id: str) -> MmsTemplate | None:
        template = self._templates.get(template_id)
        return template.model_copy() if template is not None else None

    def get_for_tenant(self, tenant_id: str, template_id: str) -> MmsTemplate | None:
        template = self.get(template_id)
        return template if template is not None and template.tenant_id == tenant_id else None

    def settle(
        self,
        template_id: str,
        status: TemplateStatus,
        *,
        mms_id: str | None = None,
        tracking_id: str | None = None,
        error_code: str | None = None,
        error_text: str | None = None,
    ) -> bool:
        template = self._templates.get(template_id)
        if template is None or template.status is not TemplateStatus.PENDING:
            return False
        given = {
            "mms_id": mms_id,
            "tracking_id": tracking_id,
            "error_code": error_code,
            "error_text": error_text,
        }
        self._templates[template_id] = template.model_copy(
            update={
                "status": status,
                "updated_at": utcnow(),
                **{k: v for k, v in given.items() if v is not None},
            }
        )
        return True

    def set_tracking(self, template_id: str, tracking_id: str) -> None:
        template = self._templates[template_id]  # KeyError: the repository's condition fails likewise
        self._templates[template_id] = template.model_copy(update={"tracking_id": tracking_id})


@dataclass
class FakeMediaStore:
    """Kept media in a dict; a link is `kept://<key>?expires=<seconds>`, and `fetch` reads it back
    as Sinch would (None for an unknown key), so a test sees what Sinch would get."""

    objects: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    links: list[tuple[str, int]] = field(default_factory=list)

    def keep(self, body: bytes, content_type: str) -> str:
        key = f"media/{len(self.objects)}-{secrets.token_hex(8)}"
        self.objects[key] = (content_type, body)
        return key

    def link(self, key: str, expires_in_s: int) -> str:
        self.links.append((key, expires_in_s))
        return f"kept://{key}?expires={expires_in_s}"

    def fetch(self, url: str) -> tuple[str, bytes] | None:
        return self.objects.get(url.removeprefix("kept://").split("?", maxsplit=1)[0])


class FakeSecretSource:
    def __init__(self, **secrets: object) -> None:
        """`secrets`: the webhook secret's fields (webhook_secret, postback_token...)."""
        self.secrets = WebhookSecrets.model_validate(secrets)

    def get(self, *, refresh: bool = False) -> WebhookSecrets:
        return self.secrets


def signed_proof(secret: str, raw: str, *, at: int, nonce: str | None = None) -> WebhookProof:
    """Sinch's signature of `raw` made with `secret` at `at` (epoch seconds), under a new nonce
    unless `nonce` is given."""
    nonce = nonce or uuid.uuid4().hex
    return WebhookProof(signature=signature(secret, raw, nonce, str(at)), nonce=nonce, timestamp=str(at))


def basic_proof(credentials: str) -> WebhookProof:
    """Basic credentials ("user:password") as a webhook call sends them."""
    return WebhookProof(authorization="Basic " + base64.b64encode(credentials.encode()).decode())


def metrics_dropped() -> None:
    """Forget the metrics the use cases added. The handlers flush them; without a handler they
    would pile up across tests until Powertools flushes them itself, which needs a namespace."""
    Metrics().clear_metrics()


def sender_settings(**environment: str) -> QueueSettings:
    """Settings as a sending function reads them, with `environment` over test defaults
    (MAX_SEND_ATTEMPTS=3, RETRY_BASE_DELAY_S=2, RETRY_MAX_DELAY_S=60, SEND_LEASE_S=30)."""
    defaults = {
        "MESSAGES_TABLE": "messages",
        "TENANTS_TABLE": "tenants",
        "BATCHES_TABLE": "batches",
        "SEND_QUEUE_URL": "send-queue",
        "DEAD_LETTER_QUEUE_URL": "dead-letters",
        "SINCH_SECRET_ID": "sinch",
        "MEDIA_BUCKET": "media",
        "API_BASE_URL": "https://api.example.com/v1-stage",
        "MAX_SEND_ATTEMPTS": "3",
        "RETRY_BASE_DELAY_S": "2",
        "RETRY_MAX_DELAY_S": "60",
        "SEND_LEASE_S": "30",
        "GATEWAY_ROLE_IDS": f"{SEND_ROLE_ID},{RETRY_ROLE_ID}",
    }
    return config.load(QueueSettings, {**defaults, **environment})


# The gateway's own roles (their sessions publish retries) and a tenant's publisher, as SQS's
# SenderId names them.
SEND_ROLE_ID = "AROAEXAMPLESENDROLE01"
RETRY_ROLE_ID = "AROAEXAMPLERETRYROLE1"
GATEWAY_SENDER = f"{RETRY_ROLE_ID}:sinch-gateway-QueueFunction"
PUBLISHER = "AIDAEXAMPLEPUBLISHER1"


class FakeOptOuts:
    """Opt-outs per (recipient, sender number), as the inbound intake would leave them; counts
    its reads (a send may afford one)."""

    def __init__(self) -> None:
        self.senders: dict[str, dict[str, bool]] = {}
        self.reads = 0

    def set(self, recipient: str, sender: str, *, opted_out: bool) -> None:
        self.senders.setdefault(recipient, {})[sender_key(sender)] = opted_out

    def opted_out(self, recipient: str, sender: str | None) -> bool:
        self.reads += 1
        return self._says(recipient, sender)

    def opted_out_all(self, recipients: Sequence[str], sender: str | None) -> frozenset[str]:
        self.reads += 1  # one bulk read, as BatchGetItem's calls are made together
        return frozenset(r for r in recipients if self._says(r, sender))

    def _says(self, recipient: str, sender: str | None) -> bool:
        states = self.senders.get(recipient, {})
        return states.get(sender_key(sender), False) if sender else any(states.values())


SENDER_NUMBER = "+12025550100"  # the number a Sending's messages come from


@dataclass
class Sending:
    """A MessageSender on fakes: one channel per API, as the composition root gives them."""

    settings: QueueSettings = field(default_factory=sender_settings)
    clock: Clock = field(default_factory=Clock)
    xms: ScriptedChannel = field(default_factory=lambda: ScriptedChannel(Api.XMS))
    mms: ScriptedChannel = field(default_factory=lambda: ScriptedChannel(Api.MMS_JSON))
    queue: FakeRetryQueue = field(default_factory=FakeRetryQueue)
    rate: FakeRate = field(default_factory=FakeRate)
    media: FakeMediaStore = field(default_factory=FakeMediaStore)
    opt_outs: FakeOptOuts = field(default_factory=FakeOptOuts)
    tenants: FakeTenantStore = field(default_factory=FakeTenantStore)
    batches: FakeBatchStore = field(default_factory=FakeBatchStore)
    store: FakeMessageStore = field(init=False)
    sender: MessageSender = field(init=False)
    settler: Settler = field(init=False)
    fan_out: FanOut = field(init=False)

    def __post_init__(self) -> None:
        metrics_dropped()
        self.store = FakeMessageStore(self.clock)
        self.sender = MessageSender(
            self.store,
            self.channels,
            self.queue,
            self.settings,
            media=self.media,
            rate=self.rate,
            opt_outs=self.opt_outs,
            sender_number=lambda: SENDER_NUMBER,
            tenants=self.tenants,
        )
        self.settler = Settler(
            self.store,
            self.channels,
            self.queue,
            self.settings,
            rate=self.rate,
            tenants=self.tenants,
            clock=self.clock,
        )
        self.fan_out = FanOut(
            self.store,
            self.batches,
            self.xms,
            self.sender,
            queue=self.queue,
            settings=self.settings,
            media=self.media,
            tenants=self.tenants,
            rate=self.rate,
            clock=self.clock,
        )

    @property
    def channels(self) -> dict[Api, ScriptedChannel]:
        return {Api.XMS: self.xms, Api.MMS_JSON: self.mms}


class FakeInboundStore:
    """Inbound messages by Sinch's id, with the nonce each came under, and the opt-outs they
    made (a keyword older than the one held for its pair changes nothing)."""

    def __init__(self, opt_outs: FakeOptOuts | None = None) -> None:
        self.messages: dict[str, tuple[InboundMessage, str | None]] = {}
        self.opt_outs = opt_outs or FakeOptOuts()
        self._keyword_at: dict[tuple[str, str], datetime] = {}

    def record(self, message: InboundMessage, *, once: str | None = None) -> str:
        if message.id in self.messages:
            return "replayed" if once is not None and self.messages[message.id][1] == once else "duplicate"
        self.messages[message.id] = (message, once)
        pair = (message.from_, sender_key(message.to))
        if (
            message.action is not None
            and self._keyword_at.get(pair, message.received_at) <= message.received_at
        ):
            self._keyword_at[pair] = message.received_at
            self.opt_outs.set(message.from_, message.to, opted_out=message.action is Action.OPTED_OUT)
        return "new"


if TYPE_CHECKING:
    # Each fake is its port, as mypy --strict sees it.
    _store: MessageStore = FakeMessageStore()
    _channel: SinchChannel = ScriptedChannel()
    _batch_channel: BatchChannel = ScriptedChannel()
    _batches: BatchStore = FakeBatchStore()
    _queue: RetryQueue = FakeRetryQueue()
    _rate: SendRate = FakeRate()
    _tenants: TenantStore = FakeTenantStore()
    _unmatched: UnmatchedStore = FakeUnmatchedStore()
    _secrets: SecretSource = FakeSecretSource()
    _templates: TemplateStore = FakeTemplateStore()
    _template_lookup: TemplateLookup = FakeTemplateStore()
    _template_settler: TemplateSettler = FakeTemplateStore()
    _opt_outs: OptOutLookup = FakeOptOuts()
    _batch_messages: BatchMessages = FakeMessageStore()
    _inbound: InboundStore = FakeInboundStore()
    _media: MediaStore = FakeMediaStore()


class FakeReceiverHealth:
    """ReceiverHealthStore in memory, with the same conditions as the DynamoDB item's; keeps the
    calls, as each is a request to DynamoDB."""

    def __init__(self) -> None:
        self.items: dict[str, ReceiverHealth] = {}
        self.calls: list[str] = []

    def get(self, receiver: str) -> ReceiverHealth:
        self.calls.append("get")
        return self.items.get(receiver, ReceiverHealth())

    def add_failure(self, receiver: str) -> ReceiverHealth:
        self.calls.append("add_failure")
        health = self.items.get(receiver, ReceiverHealth())
        self.items[receiver] = health = replace(health, failures=health.failures + 1)
        return health

    def hold(self, receiver: str, until: float, holds: int, now: float, *, unless_held: bool) -> bool:
        self.calls.append("hold")
        held = self.items.get(receiver, ReceiverHealth()).held_until
        if unless_held and held is not None and held > now:
            return False
        self.items[receiver] = ReceiverHealth(holds=holds, held_until=until)
        return True

    def claim_probe(self, receiver: str, now: float, until: float) -> bool:
        self.calls.append("claim_probe")
        health = self.items.get(receiver, ReceiverHealth())
        if health.held_until is None or health.held_until > now:
            return False
        self.items[receiver] = replace(health, held_until=until)
        return True

    def clear(self, receiver: str) -> None:
        self.calls.append("clear")
        self.items.pop(receiver, None)


if TYPE_CHECKING:
    _receivers: ReceiverHealthStore = FakeReceiverHealth()
