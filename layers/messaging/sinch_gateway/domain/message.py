"""The stored message: one DynamoDB item per message, with its status events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sinch_gateway.api.models import Channel, MessageAccepted, MessageError, MessageView, StatusEvent
from sinch_gateway.domain.status import Status


def utcnow() -> datetime:
    return datetime.now(UTC)


class MessageRecord(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    tenant_id: str = Field(min_length=1, description="The API key id the message belongs to")
    channel: Channel
    to: str
    sender: str | None = None
    text: str | None = None
    media_url: str | None = None
    subject: str | None = None
    client_reference: str | None = None
    send_at: datetime | None = None
    callback_url: str | None = None
    batch_id: str | None = None
    status: Status = Status.ACCEPTED
    attempts: int = 0
    error_code: str | None = None
    error_text: str | None = None
    sinch_http_status: int | None = None
    segments: int | None = None
    encoding: Literal["GSM", "UNICODE"] | None = None
    events: list[StatusEvent] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    ttl: int | None = None

    def expire_after(self, days: int) -> MessageRecord:
        return self.model_copy(update={"ttl": int((self.created_at + timedelta(days=days)).timestamp())})

    def accepted_view(self) -> MessageAccepted:
        return MessageAccepted(
            id=self.id,
            status=self.status,
            channel=self.channel,
            to=self.to,
            client_reference=self.client_reference,
            segments=self.segments,
            encoding=self.encoding,
            send_at=self.send_at,
            created_at=self.created_at,
        )

    def view(self) -> MessageView:
        error = MessageError(code=self.error_code, text=self.error_text or "") if self.error_code else None
        return MessageView(
            **self.accepted_view().model_dump(),
            batch_id=self.batch_id,
            attempts=self.attempts,
            error=error,
            events=self.events,
            updated_at=self.updated_at,
        )
