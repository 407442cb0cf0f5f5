"""What a SendQueue message asks for: our own retry of a message, or a send request that another
AWS service published (the body of POST /v1/messages, plus an optional idempotencyKey)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from sinch_gateway.api.models import (
    PRINTABLE_ASCII,
    SendMessageRequest,
    error_field,
    storable,
    validation_message,
)
from sinch_gateway.config import RetrySettings
from sinch_gateway.data.send_queue import RETRY_KIND
from sinch_gateway.domain.callbacks import delivery_report_url
from sinch_gateway.domain.content import MessageContent, SmsContent, XmsMediaContent
from sinch_gateway.domain.errors import Conflict, InvalidRequest, MessageNotFound
from sinch_gateway.domain.message import MessageDraft, MessageRecord, StatusEvent
from sinch_gateway.domain.rate_share import Turn
from sinch_gateway.domain.status import Status
from sinch_gateway.measures import final_status
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.ports import MessageStore, RetryQueue, TenantStore
from sinch_gateway.usecases.sending import MessageSender

logger = Logger(child=True)
metrics = Metrics()
# Ids of queued requests are derived, so that a request delivered twice is one message.
_QUEUE_NAMESPACE = uuid.UUID("6f0b3a52-8f2e-4f57-9d0e-3b1f4c2a7e10")


_NOT_JSON = object()


class KeptTurn(BaseModel):
    """A message's place in its tenant's share of Sinch's rate, kept while it waits."""

    model_config = ConfigDict(populate_by_name=True)

    place: float = Field(allow_inf_nan=False)
    cap_at: float | None = Field(default=None, alias="capAt", allow_inf_nan=False)

    def as_turn(self) -> Turn:
        return Turn(self.place, self.cap_at)


class RetryRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["retry"]
    message_id: str = Field(alias="messageId", min_length=1)
    not_before: float | None = Field(default=None, alias="notBefore")
    turn: KeptTurn | None = None

    @field_validator("turn", mode="wrap")
    @classmethod
    def _turn_or_none(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> KeptTurn | None:
        # A place that cannot be read is only a place lost: the message still goes, from the back.
        try:
            turn: KeptTurn | None = handler(value)
        except ValidationError:
            return None
        return turn


class QueuedSendRequest(SendMessageRequest):
    """A send request published to SendQueue."""

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=PRINTABLE_ASCII,
        description="Same key within the message's lifetime: one message, sent once",
    )


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
        settings: RetrySettings,
    ) -> None:
        self._sender = sender
        self._repo = repository
        self._tenants = tenants
        self._admission = admission
        self._queue = queue
        self._settings = settings

    def handle(self, body: str, sqs_message_id: str, tenant_attribute: str | None = None) -> None:
        """One SendQueue message. `tenant_attribute`: its `tenant` message attribute, if any."""
        try:
            data: Any = json.loads(body)
            parsed = True
        except (ValueError, RecursionError):
            data, parsed = None, False
        if isinstance(data, dict) and data.get("kind") == RETRY_KIND:
            try:
                retry = RetryRequest.model_validate(data)
            except ValidationError:
                self._queue.dead_letter(body, "invalid_request: a retry without a messageId", None)
                return
            self._retry(retry, body)
            return
        tenant_id = self._tenant_of(body, tenant_attribute)
        if tenant_id is None:
            return
        admitted = self._admit(body, tenant_id, sqs_message_id, data if parsed else _NOT_JSON)
        if admitted is None:
            return
        request, draft = admitted
        message_id = queued_message_id(tenant_id, sqs_message_id, request.idempotency_key)
        callback = delivery_report_url(self._settings.callback_base_url, None, None)
        metrics.add_metric(name="QueuedRequests", unit=MetricUnit.Count, value=1)
        self._sender.submit(draft, callback, tenant_id, message_id)

    def _admit(
        self, body: str, tenant_id: str, sqs_message_id: str, data: Any
    ) -> tuple[QueuedSendRequest, MessageDraft] | None:
        """The request and what it will be stored as; None when it was rejected and parked."""
        if data is _NOT_JSON:
            reason = "the body is not JSON (or is nested too deeply)"
            self._reject(body, tenant_id, sqs_message_id, reason, None)
            return None
        fields = data if isinstance(data, dict) else None
        try:
            request = QueuedSendRequest.model_validate(data)
            return request, self._admission.admit(request, tenant_id)
        except ValidationError as exc:
            reason = "; ".join(f"{error_field(e)}: {validation_message(e)}" for e in exc.errors())
            self._reject(body, tenant_id, sqs_message_id, reason, fields)
        except InvalidRequest as exc:
            reason = "; ".join(f"{f}: {m}" for f, m in exc.errors)
            # A policy refusal says which (destination_not_allowed...); a bad request is one kind.
            code = "invalid_request" if exc.type == InvalidRequest.type else exc.type.rsplit("/", 1)[-1]
            self._reject(body, tenant_id, sqs_message_id, reason, fields, code=code.replace("-", "_"))
        except Conflict as exc:
            # A template not ready (yet, or ever): the publisher's to send again, not ours to hold.
            reason = "; ".join(f"{f}: {m}" for f, m in exc.errors) or exc.detail
            self._reject(body, tenant_id, sqs_message_id, reason, fields, code="template_not_ready")
        return None

    def _tenant_of(self, body: str, attribute: str | None) -> str | None:
        """The registered tenant the request belongs to; None when it was parked on the DLQ.

        A tenant must be registered (have an item), not merely named: a typo in the attribute
        would otherwise create messages that no API key can ever see.
        """
        tenant_id = (attribute or "").strip() or self._settings.default_queue_tenant
        if not tenant_id:
            reason = "missing_tenant: the message has no `tenant` attribute (your API key id)"
        elif self._tenants.get(tenant_id) is None:
            reason = f"unknown_tenant: no tenant {tenant_id[:64]!r} is registered"
        else:
            return tenant_id
        self._queue.dead_letter(body, reason, None)
        metrics.add_metric(name="QueuedRequestsRejected", unit=MetricUnit.Count, value=1)
        logger.warning("refused a queued request without a known tenant", extra={"reason": reason})
        return None

    def _retry(self, request: RetryRequest, body: str) -> None:
        turn = request.turn.as_turn() if request.turn is not None else None
        wait = (request.not_before or 0) - time.time()
        if wait > 1:
            # Still too early: SQS cannot delay longer than 15 minutes, so go round again.
            self._queue.enqueue_retry(request.message_id, wait, turn)
            return
        try:
            self._sender.attempt(request.message_id, turn)
        except MessageNotFound:
            self._queue.dead_letter(body, "unknown_message: no such message (expired or never stored)", None)

    def _reject(
        self,
        body: str,
        tenant_id: str,
        sqs_message_id: str,
        reason: str,
        data: dict[str, Any] | None,
        *,
        code: str = "invalid_request",
    ) -> None:
        """Not sendable: never retried. Recorded as rejected (the tenant's GET finds it) and
        parked on the DLQ."""
        message_id = queued_message_id(tenant_id, sqs_message_id, None)
        fields = data or {}
        reason = storable(reason)  # it may quote the body's keys
        record = MessageRecord(
            id=message_id,
            tenant_id=tenant_id,
            content=unsendable_content(fields),
            to=storable(str(fields.get("to", ""))[:32]),
            client_reference=storable(str(fields["clientReference"])[:128])
            if fields.get("clientReference")
            else None,
            status=Status.REJECTED,
            error_code=code,
            error_text=reason[:1000],
        ).expire_after(self._settings.message_ttl_days)
        record.events.append(
            StatusEvent(status=Status.REJECTED, at=record.created_at, detail=record.error_text)
        )
        if self._repo.create(record):
            final_status(Status.REJECTED, tenant_id, accepted_at=None)  # refused on arrival
        self._queue.dead_letter(body, f"{code}: {reason}", message_id)
        metrics.add_metric(name="QueuedRequestsRejected", unit=MetricUnit.Count, value=1)
        logger.warning(
            "rejected a malformed queued request", extra={"message_id": message_id, "reason": reason}
        )


def unsendable_content(fields: dict[str, Any]) -> MessageContent:
    """What a refused request is recorded as: its kind as far as it can be told, nothing of its
    content (which may be what was wrong with it)."""
    media = fields.get("mediaUrl")
    return XmsMediaContent(media_url="") if media else SmsContent(text="")
