"""SendQueue's bodies read at the edge, as the API reads its requests: our own retry of a message,
settle check or batch's slice, or a send request another AWS service published (the body of
POST /v1/messages, or of POST /v1/batches when `to` is a list, plus an optional idempotencyKey),
each into what QueueIntake takes."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from sinch_gateway.api.models import (
    PRINTABLE_ASCII,
    BatchRequest,
    SendMessageRequest,
    error_field,
    validation_message,
)
from sinch_gateway.data.send_queue import RETRY_KIND, SETTLE_KIND, SLICE_KIND
from sinch_gateway.domain.batches import (
    MAX_PARAMETER_VALUE_CHARS,
    MAX_RECIPIENTS,
    MAX_SINCH_RECIPIENTS,
    MAX_SLICE_RECIPIENTS,
    PARAMETER_NAME,
    BatchSlice,
    SliceRecipient,
)
from sinch_gateway.domain.content import MessageContent, SmsContent, XmsMediaContent
from sinch_gateway.domain.message import storable
from sinch_gateway.domain.rate_share import Turn, Waiting
from sinch_gateway.domain.tenants import MAX_TENANT_ID_CHARS
from sinch_gateway.usecases.fan_out import QueuedSlice
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


class RateWaiting(BaseModel):
    """What a message waiting for its turn asks of the rate when it comes back."""

    api: str = Field(min_length=1, max_length=32)
    tenant: str = Field(min_length=1, max_length=MAX_TENANT_ID_CHARS)
    calls: int = Field(ge=1, le=2)
    until: float = Field(allow_inf_nan=False)

    def as_waiting(self) -> Waiting:
        return Waiting(self.api, self.tenant, self.calls, self.until)


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # A place (or what it waits for) that cannot be read is only a place lost: the message
    # still goes, read first, from the back of its tenant's line.
    try:
        return handler(value)
    except ValidationError:
        return None


LenientTurn = Annotated[KeptTurn | None, WrapValidator(_or_none)]
LenientWaiting = Annotated[RateWaiting | None, WrapValidator(_or_none)]


class RetryRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["retry"]
    message_id: str = Field(alias="messageId", min_length=1)
    not_before: float | None = Field(default=None, alias="notBefore")
    turn: LenientTurn = None
    waiting: LenientWaiting = None


class SettleRequest(BaseModel):
    """A check of one message, or of those one call for several recipients handed over."""

    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["settle"]
    message_id: str | None = Field(default=None, alias="messageId", min_length=1)
    message_ids: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, alias="messageIds", min_length=1, max_length=MAX_SINCH_RECIPIENTS
    )
    not_before: float | None = Field(default=None, alias="notBefore")

    @model_validator(mode="after")
    def _one_or_several(self) -> SettleRequest:
        if (self.message_id is None) == (self.message_ids is None):
            raise ValueError("a settle check names messageId or messageIds")
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.message_id,) if self.message_id is not None else tuple(self.message_ids or ())


ParameterName = Annotated[str, Field(pattern=PARAMETER_NAME.pattern)]
ParameterValue = Annotated[str, Field(max_length=MAX_PARAMETER_VALUE_CHARS)]


class SliceRecipientBody(BaseModel):
    to: str = Field(pattern=r"^\+[1-9][0-9]{1,14}$")  # E.164, as the batch's intake normalised it
    values: dict[ParameterName, ParameterValue] = Field(default_factory=dict)


class SliceRequest(BaseModel):
    """A batch's slice (data.send_queue.SendQueue.enqueue_slice writes it)."""

    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["slice"]
    batch_id: str = Field(alias="batchId", min_length=1, max_length=80, pattern=r"^[^/]+$")
    tenant: str = Field(min_length=1, max_length=MAX_TENANT_ID_CHARS)
    index: int = Field(ge=0, le=MAX_RECIPIENTS)
    recipients: list[SliceRecipientBody] = Field(min_length=1, max_length=MAX_SLICE_RECIPIENTS)
    turn: LenientTurn = None
    not_before: float | None = Field(default=None, alias="notBefore", allow_inf_nan=False)

    def as_slice(self) -> QueuedSlice:
        return QueuedSlice(
            BatchSlice(
                batch_id=self.batch_id,
                tenant_id=self.tenant,
                index=self.index,
                recipients=tuple(SliceRecipient(r.to, r.values) for r in self.recipients),
                turn=self.turn.as_turn() if self.turn is not None else None,
            ),
            self.not_before,
        )


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
    if isinstance(data, dict) and data.get("kind") in (RETRY_KIND, SETTLE_KIND, SLICE_KIND):
        return _gateways_own(data)
    if isinstance(data, dict) and isinstance(data.get("to"), list):
        return _batch(data)
    recorded_as = _recorded_as(data if isinstance(data, dict) else {})
    try:
        request = QueuedSendRequest.model_validate(data)
    except ValidationError as exc:
        return Unreadable(_reason(exc), recorded_as)
    return QueuedSend(request.command(), request.idempotency_key, recorded_as)


def in_turn_order(bodies: Sequence[str]) -> list[int]:
    """The order to take one delivery's bodies in: messages waiting for the rate by their kept
    places (earliest first), before everything else, as it came. Records are taken one after
    another, and each waits for its own turn: one with a later place taken first would make the
    earlier ones miss theirs, and lose them."""

    def place(index: int) -> tuple[float, int]:
        read = read_queued(bodies[index])
        turn = read.turn if isinstance(read, QueuedRetry) else None
        return (turn.place if turn is not None else math.inf, index)

    return sorted(range(len(bodies)), key=place)


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


def _gateways_own(data: dict[str, Any]) -> QueuedRetry | QueuedSettle | QueuedSlice | MalformedRetry:
    """A retry, a settle check or a batch's slice, which the gateway's own functions queue."""
    try:
        if data["kind"] == SETTLE_KIND:
            settle = SettleRequest.model_validate(data)
            return QueuedSettle(settle.ids, settle.not_before)
        if data["kind"] == SLICE_KIND:
            return SliceRequest.model_validate(data).as_slice()
        retry = RetryRequest.model_validate(data)
    except ValidationError as exc:
        if data["kind"] != SLICE_KIND:
            return MalformedRetry()
        return MalformedRetry(f"a batch's slice that cannot be read: {_reason(exc)}")
    turn = retry.turn.as_turn() if retry.turn is not None else None
    waiting = retry.waiting.as_waiting() if retry.waiting is not None else None
    return QueuedRetry(retry.message_id, retry.not_before, turn, waiting)


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
