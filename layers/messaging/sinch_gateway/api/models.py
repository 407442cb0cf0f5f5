"""Public API shapes (v1). These pydantic models are the single source of the OpenAPI document."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.content import Api, Channel, SmsContent, XmsMediaContent
from sinch_gateway.domain.message import MessageDraft, MessageRecord, StatusEvent
from sinch_gateway.domain.phone import mms_unavailable_reason, normalize_e164
from sinch_gateway.domain.status import Status

SMS_MAX_CHARS = 1600
MMS_MAX_CHARS = 5000
SUBJECT_MAX_CHARS = 80
MAX_SCHEDULE_AHEAD = timedelta(days=3)  # Sinch expires a batch 3 days after send_at at most
# Characters that show nothing on a handset, beyond what str.isspace() knows: format characters
# (zero-width space and joiners, BOM, bidi marks), Hangul fillers, braille blank, variation selectors.
_SHOWS_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800") | frozenset(map(chr, range(0xFE00, 0xFE10)))


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic error in our words; the field it names says where."""
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"
    if kind == "string_unicode":
        # A lone UTF-16 surrogate ("\ud800" in JSON) is no character: nothing could store or send it.
        return "is not valid Unicode text: it contains a lone surrogate (\\ud800-\\udfff)"
    # pydantic prefixes messages from our own validators.
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ")


def storable(text: str) -> str:
    """`text` with any lone surrogate written out as the escape it came as ("\\ud800"): what
    we keep or log of an input we refused must not fail to encode."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_blank(text: str) -> bool:
    """True when the text would reach the handset as nothing visible."""
    return all(
        c.isspace() or c in _SHOWS_NOTHING or unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp")
        for c in text
    )


class _ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


E164 = Annotated[
    str,
    AfterValidator(normalize_e164),
    Field(description="Recipient in E.164 format", examples=["+12025550143"]),
]


class SendMessageRequest(_ApiModel):
    """A message to send: SMS when `mediaUrl` is absent, MMS when present."""

    # Only the documented (camelCase) names: `media_url` is as unknown to clients as any typo.
    model_config = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)

    # Declared first: the rules of `to`, `text` and `subject` depend on it (ValidationInfo.data).
    media_url: HttpUrl | None = Field(default=None, description="Media for an MMS (https)")
    to: E164
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
    send_at: AwareDatetime | None = Field(
        default=None,
        description="When to send (ISO 8601 with a time zone, e.g. 2026-12-01T10:00:00Z), "
        "in the future and at most 3 days ahead",
    )

    @property
    def channel(self) -> Channel:
        return Channel.MMS if self.media_url else Channel.SMS

    def draft(self) -> MessageDraft:
        """The message as it will be stored, once every check passed."""
        content: SmsContent | XmsMediaContent
        if self.media_url is None:
            content = SmsContent(text=self.text or "")
        else:
            content = XmsMediaContent(media_url=str(self.media_url), text=self.text, subject=self.subject)
        return MessageDraft(
            to=self.to, content=content, client_reference=self.client_reference, send_at=self.send_at
        )

    @field_validator("to")
    @classmethod
    def _mms_needs_a_country_sinch_serves(cls, to: str, info: ValidationInfo) -> str:
        if info.data.get("media_url") is not None and (reason := mms_unavailable_reason(to)):
            raise ValueError(reason)
        return to

    @field_validator("send_at")
    @classmethod
    def _schedule_within_sinchs_window(cls, send_at: datetime | None) -> datetime | None:
        if send_at is None:
            return None
        now = datetime.now(UTC)
        if send_at <= now:
            raise ValueError("must be in the future")
        if send_at > now + MAX_SCHEDULE_AHEAD:
            raise ValueError("must be at most 3 days ahead")
        return send_at.astimezone(UTC)

    @field_validator("text", "subject")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and is_blank(value):
            raise ValueError("must contain something visible, not only spaces or invisible characters")
        return value

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


class MessageError(_ApiModel):
    code: str
    text: str


class MessageAccepted(_ApiModel):
    """Answer to POST /v1/messages."""

    id: str
    status: Status
    channel: Channel
    api: Api = Field(description="The Sinch API that carries it: xms, or mms-json")
    to: str
    client_reference: str | None = None
    segments: int | None = Field(default=None, description="SMS segments the text needs")
    encoding: Literal["GSM", "UNICODE"] | None = None
    send_at: datetime | None = Field(default=None, description="When Sinch is to send it, if scheduled")
    created_at: datetime


class MessageView(MessageAccepted):
    """Answer to GET /v1/messages/{id}."""

    batch_id: str | None = Field(
        default=None, description="Sinch's id for it: the XMS batch id, or the MMS JSON API's tracking id"
    )
    attempts: int
    error: MessageError | None = None
    delivered_as: Channel | None = Field(
        default=None, description='"sms" when Sinch delivered an MMS as its fallback SMS'
    )
    events: list[StatusEvent]
    updated_at: datetime


def accepted_view(record: MessageRecord) -> MessageAccepted:
    return MessageAccepted(
        id=record.id,
        status=record.status,
        channel=record.channel,
        api=record.api,
        to=record.to,
        client_reference=record.client_reference,
        segments=record.segments,
        encoding=record.encoding,
        send_at=record.send_at,
        created_at=record.created_at,
    )


def message_view(record: MessageRecord) -> MessageView:
    error = MessageError(code=record.error_code, text=record.error_text or "") if record.error_code else None
    return MessageView(
        **accepted_view(record).model_dump(),
        batch_id=record.batch_id,
        attempts=record.attempts,
        error=error,
        delivered_as=record.delivered_as,
        events=record.events,
        updated_at=record.updated_at,
    )


class MessagePage(_ApiModel):
    """Answer to GET /v1/messages: newest first."""

    items: list[MessageView]
    next_token: str | None = Field(default=None, description="Pass as nextToken for the next page")


class DryRunRecipient(_ApiModel):
    to: str
    segments: int | None = Field(default=None, description="SMS parts (SMS only)")
    encoding: Literal["GSM", "UNICODE"] | None = Field(default=None, description="SMS encoding (SMS only)")
    body: str | None = None


class DryRunResult(_ApiModel):
    """Answer to POST /v1/messages with X-Dry-Run: true. Nothing was sent or recorded."""

    dry_run: Literal[True] = True
    channel: Channel
    api: Api
    number_of_messages: int = Field(description="Messages Sinch would bill")
    recipients: list[DryRunRecipient]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; some problems add members (sinchCode, messageId...)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)
