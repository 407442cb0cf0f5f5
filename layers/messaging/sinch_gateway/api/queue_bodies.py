"""SendQueue's bodies read at the edge, as the API reads its requests: our own retry of a message,
or a send request another AWS service published (the body of POST /v1/messages, or of POST
/v1/batches when `to` is a list, plus an optional idempotencyKey), each into what QueueIntake
takes."""

from __future__ import annotations

import json
from typing import Any, Literal

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
    BatchRequest,
    SendMessageRequest,
    error_field,
    validation_message,
)
from sinch_gateway.data.send_queue import RETRY_KIND, SETTLE_KIND
from sinch_gateway.domain.content import MessageContent, SmsContent, XmsMediaContent
from sinch_gateway.domain.message import storable
from sinch_gateway.domain.rate_share import Turn
from sinch_gateway.usecases.queue_intake import (
    MalformedRetry,
    QueuedBatch,
    QueuedBody,
    QueuedRetry,
    QueuedSend,
    QueuedSettle,
    RecordedAs,
    Unreadable,
    UnreadableBatch,
)


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


class SettleRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["settle"]
    message_id: str = Field(alias="messageId", min_length=1)
    not_before: float | None = Field(default=None, alias="notBefore")


class QueuedSendRequest(SendMessageRequest):
    """A send request published to SendQueue."""

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=PRINTABLE_ASCII,
        description="Same key within the message's lifetime: one message, sent once",
    )


class QueuedBatchRequest(BatchRequest):
    """A batch request published to SendQueue (`to` a list)."""

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=PRINTABLE_ASCII,
        description="Same key within the batch's lifetime: one batch, each recipient sent once",
    )


def read_queued(body: str) -> QueuedBody:
    """What one SendQueue body asks for. Nothing here knows who published it: QueueIntake
    checks that (a retry only from the gateway's functions, a request from its tenant's
    publishers) before it acts on what was read."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return Unreadable("the body is not JSON (or is nested too deeply)", RecordedAs())
    if isinstance(data, dict) and data.get("kind") in (RETRY_KIND, SETTLE_KIND):
        return _gateways_own(data)
    if isinstance(data, dict) and isinstance(data.get("to"), list):
        return _batch(data)
    recorded_as = _recorded_as(data if isinstance(data, dict) else {})
    try:
        request = QueuedSendRequest.model_validate(data)
    except ValidationError as exc:
        return Unreadable(_reason(exc), recorded_as)
    return QueuedSend(request.command(), request.idempotency_key, recorded_as)


def _batch(data: dict[str, Any]) -> QueuedBatch | UnreadableBatch:
    try:
        request = QueuedBatchRequest.model_validate(data)
    except ValidationError as exc:
        return UnreadableBatch(_reason(exc))
    return QueuedBatch(request.command(), request.idempotency_key)


def _reason(exc: ValidationError, most: int = 20) -> str:
    """What is wrong, in the publisher's field names (the first `most` errors)."""
    errors = exc.errors()
    more = f"; and {len(errors) - most} more" if len(errors) > most else ""
    return "; ".join(f"{error_field(e)}: {validation_message(e)}" for e in errors[:most]) + more


def _gateways_own(data: dict[str, Any]) -> QueuedRetry | QueuedSettle | MalformedRetry:
    """A retry or a settle check, which the gateway's own functions queue."""
    try:
        if data["kind"] == SETTLE_KIND:
            settle = SettleRequest.model_validate(data)
            return QueuedSettle(settle.message_id, settle.not_before)
        retry = RetryRequest.model_validate(data)
    except ValidationError:
        return MalformedRetry()
    turn = retry.turn.as_turn() if retry.turn is not None else None
    return QueuedRetry(retry.message_id, retry.not_before, turn)


def _recorded_as(fields: dict[str, Any]) -> RecordedAs:
    """What a refused request is recorded as, from its body as sent (it may not have passed)."""
    reference = fields.get("clientReference")
    return RecordedAs(
        to=storable(str(fields.get("to", ""))[:32]),
        client_reference=storable(str(reference)[:128]) if reference else None,
        content=_unsendable_content(fields),
    )


def _unsendable_content(fields: dict[str, Any]) -> MessageContent:
    """Its kind as far as it can be told, nothing of its content."""
    return XmsMediaContent(media_url="") if fields.get("mediaUrl") else SmsContent(text="")
