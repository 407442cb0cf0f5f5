"""What a SendQueue message asks for: our own retry of a message, our own check that messages
Sinch accepted have settled, a slice of one of our batches to hand over (usecases.fan_out), or a
send request that another AWS service published (the body of POST /v1/messages, plus an optional
idempotencyKey).

Who published it is proven by SQS, not by the message: its `SenderId` is the principal whose
credentials signed SendMessage. A request is taken for a tenant only from one of that tenant's
registered publishers; a retry, a settle check or a slice only from the gateway's own functions
(their roles), since each names any tenant's messages and makes them be attempted, or looked up,
now.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.config import QueueSettings
from sinch_gateway.domain.batches import BatchRefused
from sinch_gateway.domain.commands import BatchCommand, SendCommand
from sinch_gateway.domain.content import MessageContent, SmsContent
from sinch_gateway.domain.errors import Conflict, InvalidRequest, MediaUnavailable, MessageNotFound
from sinch_gateway.domain.message import MessageDraft, MessageRecord, StatusEvent, storable
from sinch_gateway.domain.phone import mask
from sinch_gateway.domain.rate_share import Turn, Waiting
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.tenants import principal_of
from sinch_gateway.domain.webhooks import delivery_report_url
from sinch_gateway.measures import final_status
from sinch_gateway.media.preflight import MEDIA_BUDGET_S
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.batch_intake import BatchIntake
from sinch_gateway.usecases.fan_out import FanOut, QueuedSlice
from sinch_gateway.usecases.ports import MessageStore, RetryQueue, TenantStore
from sinch_gateway.usecases.sending import MessageSender
from sinch_gateway.usecases.settling import Settler

logger = Logger(child=True)
metrics = Metrics()
# Ids of queued requests are derived, so that a request delivered twice is one message.
_QUEUE_NAMESPACE = uuid.UUID("6f0b3a52-8f2e-4f57-9d0e-3b1f4c2a7e10")


@dataclass(frozen=True)
class RecordedAs:
    """What a refused request is recorded as (the tenant's GET finds it): its kind as far as it can
    be told, nothing of its content (which may be what was wrong with it)."""

    to: str = ""
    client_reference: str | None = None
    content: MessageContent = field(default_factory=lambda: SmsContent(text=""))


@dataclass(frozen=True)
class QueuedRetry:
    """The gateway's own retry of a message: `turn` is its kept place in the rate."""

    message_id: str
    not_before: float | None = None
    turn: Turn | None = None
    waiting: Waiting | None = None  # what it asks of the rate, when it waits for its turn


@dataclass(frozen=True)
class QueuedSettle:
    """The gateway's own check that messages Sinch accepted end final (usecases.settling): one, or
    those one call for several recipients handed over."""

    message_ids: tuple[str, ...]
    not_before: float | None = None


@dataclass(frozen=True)
class MalformedRetry:
    """A body that says it is one of the gateway's own (a retry, a settle check, a batch's slice),
    and cannot be read as one: why."""

    reason: str = "a retry without a messageId"


@dataclass(frozen=True)
class QueuedSend:
    """A send request another service published; the same `idempotency_key`: one message."""

    command: SendCommand
    idempotency_key: str | None
    recorded_as: RecordedAs


@dataclass(frozen=True)
class QueuedBatch:
    """A batch request another service published (`to` a list); the same `idempotency_key`: one
    batch."""

    command: BatchCommand
    idempotency_key: str | None


@dataclass(frozen=True)
class UnreadableBatch:
    """A body with `to` a list that is no batch request: why, in the publisher's field names."""

    reason: str


@dataclass(frozen=True)
class Unreadable:
    """A body that is no send request: why, in the publisher's field names."""

    reason: str
    recorded_as: RecordedAs


# A SendQueue body as the edge read it.
QueuedBody = (
    QueuedRetry
    | QueuedSettle
    | QueuedSlice
    | MalformedRetry
    | QueuedSend
    | Unreadable
    | QueuedBatch
    | UnreadableBatch
)


class OutOfTime(Exception):
    """The invocation had too little time left for this request's media: SQS delivers it again."""


def queued_message_id(tenant_id: str, sqs_message_id: str, idempotency_key: str | None) -> str:
    # The tenant is part of the name: two tenants choosing the same key get two messages.
    name = f"key:{idempotency_key}" if idempotency_key else f"sqs:{sqs_message_id}"
    return str(uuid.uuid5(_QUEUE_NAMESPACE, f"{tenant_id}/{name}"))


class QueueIntake:
    def __init__(
        self,
        sender: MessageSender,
        repository: MessageStore,
        tenants: TenantStore,
        admission: Admission,
        queue: RetryQueue,
        *,
        settler: Settler,
        fan_out: FanOut,
        settings: QueueSettings,
        batch_intake: BatchIntake,
    ) -> None:
        self._batch_intake = batch_intake
        self._settler = settler
        self._fan_out = fan_out
        self._sender = sender
        self._repo = repository
        self._tenants = tenants
        self._admission = admission
        self._queue = queue
        self._settings = settings

    def handle(
        self,
        queued: QueuedBody,
        body: str,
        sqs_message_id: str,
        tenant_attribute: str | None = None,
        *,
        sender_id: str | None = None,
        time_left_s: float | None = None,
    ) -> None:
        """One SendQueue message: `queued`, its `body` as read at the edge (`body` itself is what
        is parked on the DLQ). `tenant_attribute`: its `tenant` message attribute, if any;
        `sender_id`: SQS's SenderId, the principal that published it; `time_left_s`: what is
        left of the invocation (None: no limit).

        Raises only for what may pass on a second try (AWS or Sinch trouble), logged at ERROR:
        SQS delivers the record again, and after its last receive moves it to the DLQ.
        """
        try:
            self._handle(
                queued, body, sqs_message_id, tenant_attribute, sender_id=sender_id, time_left_s=time_left_s
            )
        except Exception as exc:
            logger.exception(
                "queue record failed: SQS delivers it again", extra={"reason": type(exc).__name__}
            )
            raise

    def _handle(
        self,
        queued: QueuedBody,
        body: str,
        sqs_message_id: str,
        tenant_attribute: str | None,
        *,
        sender_id: str | None,
        time_left_s: float | None,
    ) -> None:
        if isinstance(queued, QueuedRetry | QueuedSettle | QueuedSlice | MalformedRetry):
            # A batch's slice too: it names a tenant's batch and makes its recipients be sent.
            if sender_id is None or principal_of(sender_id) not in self._settings.gateway_role_ids:
                self._refuse(
                    body, f"retry_not_authorized: only the gateway's functions retry ({_who(sender_id)})"
                )
            elif isinstance(queued, MalformedRetry):
                self._park(body, f"invalid_request: {queued.reason}")
            elif (
                isinstance(queued, QueuedRetry)
                and time_left_s is not None
                and time_left_s < self._send_worst_s()
            ):
                self._pass_on(queued)
            elif isinstance(queued, QueuedSettle):
                self._settle(queued, time_left_s)
            elif isinstance(queued, QueuedSlice):
                self._fan_out.hand_over(queued, body, time_left_s=time_left_s)
            else:
                self._retry(queued, body)
            return
        tenant_id = self._tenant_of(body, tenant_attribute, sender_id)
        if tenant_id is None:
            return
        if isinstance(queued, Unreadable):
            self._reject(body, tenant_id, sqs_message_id, queued.reason, queued.recorded_as)
            return
        if isinstance(queued, QueuedBatch | UnreadableBatch):
            self._batch(queued, body, tenant_id, sqs_message_id)
            return
        draft = self._admit(queued, body, tenant_id, sqs_message_id, self._media_budget_s(time_left_s))
        if draft is None:
            return
        message_id = queued_message_id(tenant_id, sqs_message_id, queued.idempotency_key)
        callback = delivery_report_url(self._settings.webhook_base_url, None, None)
        metrics.add_metric(name="QueuedRequests", unit=MetricUnit.Count, value=1)
        self._sender.submit(draft, callback, tenant_id, message_id)

    def _send_worst_s(self) -> float:
        """A send's worst case: Sinch's timeouts, and the wait for the rate."""
        settings = self._settings
        return settings.sinch_connect_timeout_s + settings.sinch_read_timeout_s + settings.sinch_rate_wait_s

    def _pass_on(self, queued: QueuedRetry) -> None:
        """Too little of the invocation is left for a retry's worst case: it goes back on the queue
        as it came (its place in the rate kept) for another invocation to take at once. Run out of
        time, the invocation would fail as a whole, and SQS would deliver every record of it again,
        those done and queued again already included (each then twice). (A settle check and a
        batch's slice keep to the time left themselves.)"""
        wait = max(0.0, (queued.not_before or 0) - time.time())
        self._queue.enqueue_retry(queued.message_id, wait, queued.turn, queued.waiting)
        metrics.add_metric(name="QueueRecordsPassedOn", unit=MetricUnit.Count, value=1)

    def _batch(
        self, queued: QueuedBatch | UnreadableBatch, body: str, tenant_id: str, sqs_message_id: str
    ) -> None:
        """A published batch, taken as POST /v1/batches takes one; its refusals logged. What is
        not sendable at all (every recipient refused, or the batch itself) is parked with why."""
        if isinstance(queued, UnreadableBatch):
            self._refuse(body, f"invalid_request: {storable(queued.reason)}")
            return
        # Derived, as a message's is: a request delivered twice is one batch.
        batch_id = queued_message_id(tenant_id, sqs_message_id, queued.idempotency_key)
        callback = delivery_report_url(self._settings.webhook_base_url, None, None)
        try:
            result = self._batch_intake.accept(queued.command, tenant_id, callback, batch_id)
        except (InvalidRequest, Conflict) as exc:
            reason = "; ".join(f"{f}: {m}" for f, m in exc.errors) or exc.detail
            self._refuse(body, f"{getattr(exc, 'code', 'invalid_request')}: {storable(reason)}")
            return
        refused = [{"to": mask(r.to), "type": r.type.value, "detail": r.detail} for r in result.refused]
        if isinstance(result, BatchRefused):
            reasons = "; ".join(f"{r['to']}: {r['type']}" for r in refused[:20])
            self._refuse(body, f"all_recipients_refused: {reasons}")
            return
        if refused:
            logger.warning(
                "queued batch: recipients refused", extra={"batch_id": batch_id, "refused": refused[:100]}
            )
        metrics.add_metric(name="QueuedBatches", unit=MetricUnit.Count, value=1)

    def _media_budget_s(self, time_left_s: float | None) -> float | None:
        """The media's time: the whole budget, or less when the invocation has less left than that
        and a send's worst case after it."""
        if time_left_s is None:
            return None
        left = max(0.0, time_left_s - self._send_worst_s())
        return None if left >= MEDIA_BUDGET_S else left

    def _admit(
        self, queued: QueuedSend, body: str, tenant_id: str, sqs_message_id: str, media_budget_s: float | None
    ) -> MessageDraft | None:
        """What the request will be stored as; None when it was rejected and parked. Raises
        OutOfTime when its media ran out of a budget cut short by the invocation's end."""
        recorded_as = queued.recorded_as
        try:
            return self._admission.admit(queued.command, tenant_id, media_budget_s=media_budget_s)
        except MediaUnavailable as exc:
            if media_budget_s is not None:
                raise OutOfTime("the invocation ended before the media could be checked") from exc
            self._refused(body, tenant_id, sqs_message_id, exc, recorded_as)
        except InvalidRequest as exc:
            self._refused(body, tenant_id, sqs_message_id, exc, recorded_as)
        except Conflict as exc:
            # A template not ready (yet, or ever): the publisher's to send again, not ours to hold.
            reason = "; ".join(f"{f}: {m}" for f, m in exc.errors) or exc.detail
            self._reject(body, tenant_id, sqs_message_id, reason, recorded_as, code="template_not_ready")
        return None

    def _refused(
        self, body: str, tenant_id: str, sqs_message_id: str, exc: InvalidRequest, recorded_as: RecordedAs
    ) -> None:
        reason = "; ".join(f"{f}: {m}" for f, m in exc.errors)
        # A policy refusal says which (destination_not_allowed...); a bad request is one kind.
        self._reject(body, tenant_id, sqs_message_id, reason, recorded_as, code=exc.code)

    def _tenant_of(self, body: str, attribute: str | None, sender_id: str | None) -> str | None:
        """The registered tenant the request belongs to, if its publisher is one of that tenant's;
        None when it was parked on the DLQ.

        A tenant must be registered (have an item), not merely named: a typo in the attribute
        would otherwise create messages that no API key can ever see. A tenant's second key (an
        alias) names the tenant itself.
        """
        tenant_id = (attribute or "").strip() or self._settings.default_queue_tenant
        tenant = self._tenants.get(tenant_id) if tenant_id else None
        if not tenant_id:
            reason = "missing_tenant: the message has no `tenant` attribute (your API key id)"
        elif tenant is None:
            reason = f"unknown_tenant: no tenant {tenant_id[:64]!r} is registered"
        elif not tenant.policy.publishes(sender_id):
            reason = (
                f"tenant_not_authorized: {_who(sender_id)} is not a registered publisher of "
                f"tenant {tenant_id[:64]!r}"
            )
        else:
            return tenant.tenant_id
        self._refuse(body, reason)
        return None

    def _refuse(self, body: str, reason: str) -> None:
        """Parked with why, recorded nowhere: no message for any tenant, no tenant's metric."""
        self._park(body, reason)
        metrics.add_metric(name="QueuedRequestsRejected", unit=MetricUnit.Count, value=1)

    def _retry(self, request: QueuedRetry, body: str) -> None:
        turn = request.turn
        wait = (request.not_before or 0) - time.time()
        if wait > 1:
            # Still too early: SQS cannot delay longer than 15 minutes, so go round again.
            self._queue.enqueue_retry(request.message_id, wait, turn, request.waiting)
            return
        try:
            self._sender.attempt_in_turn(request.message_id, turn, request.waiting)
        except MessageNotFound:
            self._park(body, "unknown_message: no such message (expired or never stored)")

    def _settle(self, request: QueuedSettle, time_left_s: float | None) -> None:
        wait = (request.not_before or 0) - time.time()
        if wait > 1:
            self._queue.enqueue_settle_all(request.message_ids, wait)  # round again, as a retry does
            return
        self._settler.settle_all(request.message_ids, time_left_s=time_left_s)

    def _park(self, body: str, reason: str, message_id: str | None = None) -> None:
        """Not to be sent: parked on the DeadLetterQueue with why, and logged at ERROR."""
        self._queue.dead_letter(body, reason, message_id)
        logger.error(
            "queue record parked on the DeadLetterQueue", extra={"message_id": message_id, "reason": reason}
        )

    def _reject(
        self,
        body: str,
        tenant_id: str,
        sqs_message_id: str,
        reason: str,
        recorded_as: RecordedAs,
        *,
        code: str = "invalid_request",
    ) -> None:
        """Not sendable: never retried. Recorded as rejected (the tenant's GET finds it) and
        parked on the DLQ."""
        message_id = queued_message_id(tenant_id, sqs_message_id, None)
        reason = storable(reason)  # it may quote the body's keys
        record = MessageRecord(
            id=message_id,
            tenant_id=tenant_id,
            content=recorded_as.content,
            to=recorded_as.to,
            client_reference=recorded_as.client_reference,
            status=Status.REJECTED,
            error_code=code,
            error_text=reason[:1000],
        ).expire_after(self._settings.message_ttl_days)
        record.events.append(
            StatusEvent(status=Status.REJECTED, at=record.created_at, detail=record.error_text)
        )
        if self._repo.create(record):
            final_status(Status.REJECTED, tenant_id, accepted_at=None)  # refused on arrival
        self._park(body, f"{code}: {reason}", message_id)
        metrics.add_metric(name="QueuedRequestsRejected", unit=MetricUnit.Count, value=1)


def _who(sender_id: str | None) -> str:
    """The publisher as SQS named it (SenderId), for the DLQ's reason and the log."""
    return f"publisher {sender_id[:160]!r}" if sender_id else "no SenderId"
