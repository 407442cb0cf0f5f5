"""SendQueue's bodies read at the edge, as the API reads its requests: our own retry of a message,
or a send request another AWS service published (the body of POST /v1/messages, plus an optional
idempotencyKey), each into what QueueIntake takes."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from sinch_gateway.api.models import PRINTABLE_ASCII, SendMessageRequest, error_field, validation_message
from sinch_gateway.data.send_queue import RETRY_KIND, SETTLE_KIND
from sinch_gateway.domain.content import MessageContent, SmsContent, XmsMediaContent
from sinch_gateway.domain.message import storable
from sinch_gateway.domain.rate_share import Turn, Waiting
from sinch_gateway.usecases.queue_intake import (
    MalformedRetry,
    QueuedBody,
    QueuedRetry,
    QueuedSend,
    QueuedSettle,
    RecordedAs,
    Unreadable,
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
    tenant: str = Field(min_length=1, max_length=128)
    calls: int = Field(ge=1, le=2)
    until: float = Field(allow_inf_nan=False)

    def as_waiting(self) -> Waiting:
        return Waiting(self.api, self.tenant, self.calls, self.until)


class RetryRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: Literal["retry"]
    message_id: str = Field(alias="messageId", min_length=1)
    not_before: float | None = Field(default=None, alias="notBefore")
    turn: KeptTurn | None = None
    waiting: RateWaiting | None = None

    @field_validator("turn", "waiting", mode="wrap")
    @classmethod
    def _or_none(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # A place (or what it waits for) that cannot be read is only a place lost: the message
        # still goes, read first, from the back of its tenant's line.
        try:
            return handler(value)
        except ValidationError:
            return None


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
    recorded_as = _recorded_as(data if isinstance(data, dict) else {})
    try:
        request = QueuedSendRequest.model_validate(data)
    except ValidationError as exc:
        reason = "; ".join(f"{error_field(e)}: {validation_message(e)}" for e in exc.errors())
        return Unreadable(reason, recorded_as)
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
