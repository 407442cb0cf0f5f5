"""The stored message: one DynamoDB item per message, with its content and status events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.content import Api, Channel, MessageContent, api_of, channel_of
from sinch_gateway.domain.status import Status, Transition


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Stored(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class StatusEvent(_Stored):
    status: Status
    at: datetime
    code: int | str | None = Field(default=None, description="Sinch's code for this status, if any")
    detail: str | None = None
    operator_at: datetime | None = Field(
        default=None, description="When the operator reported this status (Sinch's operator_status_at)"
    )
    stale: bool | None = Field(
        default=None,
        description="True for a delivery report that came after a later or equal status "
        "(duplicate, late or out of order): kept here, but it did not change the status",
    )

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An event says only what happened: no "code": null on our own events.
        return {k: v for k, v in handler(self).items() if v is not None}


class MessageDraft(_Stored):
    """A message that passed every check, before it is recorded."""

    to: str
    content: MessageContent
    client_reference: str | None = None
    send_at: datetime | None = None
    status_callback_url: str | None = None


class MessageRecord(_Stored):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    tenant_id: str = Field(min_length=1, description="The API key id the message belongs to")
    to: str
    content: MessageContent
    sender: str | None = None
    client_reference: str | None = None
    send_at: datetime | None = None
    callback_url: str | None = None  # where Sinch reports on it (our webhook)
    status_callback_url: str | None = None  # where we report its status changes (the caller's)
    batch_id: str | None = None  # Sinch's id for what it accepted: XMS batch id or MMS tracking id
    status: Status = Status.ACCEPTED
    attempts: int = 0
    error_code: str | None = None
    error_text: str | None = None
    sinch_http_status: int | None = None
    segments: int | None = None
    encoding: Literal["GSM", "UNICODE"] | None = None
    delivered_as: Channel | None = None  # set when Sinch delivered an MMS as its fallback SMS
    # An answer was lost after the request reached Sinch: it may hold the message.
    unconfirmed: bool = False
    events: list[StatusEvent] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    ttl: int | None = None

    @property
    def channel(self) -> Channel:
        return channel_of(self.content)

    @property
    def api(self) -> Api:
        return api_of(self.content)

    def expire_after(self, days: int) -> MessageRecord:
        return self.model_copy(update={"ttl": int((self.created_at + timedelta(days=days)).timestamp())})


@dataclass(frozen=True)
class Advanced:
    """What a status write did; the message as it now stands when that write made it final
    (whose tenant and age the final-status metrics need)."""

    transition: Transition
    final: MessageRecord | None = None
