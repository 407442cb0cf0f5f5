"""Public API shapes (v1). These pydantic models are the single source of the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic.alias_generators import to_camel

from sinch_gateway.phone import normalize_e164
from sinch_gateway.status import Status

SMS_MAX_CHARS = 1600
MMS_MAX_CHARS = 5000
SUBJECT_MAX_CHARS = 80


class Channel(StrEnum):
    SMS = "sms"
    MMS = "mms"


class _ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


E164 = Annotated[
    str,
    AfterValidator(normalize_e164),
    Field(description="Recipient in E.164 format", examples=["+12025550143"]),
]


class SendMessageRequest(_ApiModel):
    """A message to send: SMS when `mediaUrl` is absent, MMS when present."""

    model_config = ConfigDict(extra="forbid")

    to: E164
    # Declared before text and subject: their rules depend on it (ValidationInfo.data).
    media_url: HttpUrl | None = Field(default=None, description="Media for an MMS (https)")
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MMS_MAX_CHARS,
        validate_default=True,
        description=f"Message text: required for SMS (at most {SMS_MAX_CHARS} characters), "
        f"optional for MMS (at most {MMS_MAX_CHARS})",
    )
    subject: str | None = Field(
        default=None, min_length=1, max_length=SUBJECT_MAX_CHARS, description="MMS subject"
    )
    client_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Your own reference, returned with the message",
    )

    @property
    def channel(self) -> Channel:
        return Channel.MMS if self.media_url else Channel.SMS

    @field_validator("text")
    @classmethod
    def _sms_needs_text(cls, text: str | None, info: ValidationInfo) -> str | None:
        if "media_url" not in info.data or info.data["media_url"] is not None:
            return text  # an MMS, or mediaUrl was invalid and has its own error
        if text is None:
            raise ValueError("is required for an SMS (a message without mediaUrl)")
        if len(text) > SMS_MAX_CHARS:
            raise ValueError(f"must be at most {SMS_MAX_CHARS} characters for an SMS")
        return text

    @field_validator("subject")
    @classmethod
    def _subject_is_for_mms(cls, subject: str | None, info: ValidationInfo) -> str | None:
        if subject is not None and info.data.get("media_url", "invalid") is None:
            raise ValueError("is only allowed for an MMS (with mediaUrl)")
        return subject


class StatusEvent(_ApiModel):
    status: Status
    at: datetime
    code: int | str | None = Field(default=None, description="Sinch's code for this status, if any")
    detail: str | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An event says only what happened: no "code": null on our own events.
        return {k: v for k, v in handler(self).items() if v is not None}


class MessageError(_ApiModel):
    code: str
    text: str


class MessageAccepted(_ApiModel):
    """Answer to POST /v1/messages."""

    id: str
    status: Status
    channel: Channel
    to: str
    client_reference: str | None = None
    segments: int | None = Field(default=None, description="SMS segments the text needs")
    encoding: Literal["GSM", "UNICODE"] | None = None
    created_at: datetime


class MessageView(MessageAccepted):
    """Answer to GET /v1/messages/{id}."""

    batch_id: str | None = None
    attempts: int
    error: MessageError | None = None
    events: list[StatusEvent]
    updated_at: datetime


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict, exclude=True)
