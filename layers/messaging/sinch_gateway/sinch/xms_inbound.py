"""Sinch's MO SMS (`mo_text`) and MMS (`mo_media`) as they arrive on the inbound webhook, read into
an InboundMessage."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from sinch_gateway.domain.inbound import (
    MAX_TEXT_CHARS,
    SINCH_ID_PATTERN,
    InboundMedia,
    InboundMessage,
    action_of,
    kept_media,
)
from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.reports import MalformedReport
from sinch_gateway.sinch.xms_reports import SinchTime

SinchId = Annotated[str, Field(pattern=f"^{SINCH_ID_PATTERN}$")]
# A handset's number (Sinch writes it with or without its +) or our own number or short code.
Msisdn = Annotated[str, Field(pattern=r"^\+?[0-9]{3,15}$")]
MAX_MEDIA_ITEMS = 50  # far above what a handset attaches; what is stored of them: kept_media


class _Mo(BaseModel):
    # Sinch adds fields over time; a webhook that refused them would drop messages.
    model_config = ConfigDict(extra="ignore")

    id: SinchId
    from_: Msisdn = Field(alias="from")
    to: Msisdn
    received_at: SinchTime
    client_reference: str | None = None


class MoText(_Mo):
    type: Literal["mo_text"]
    body: str = Field(max_length=MAX_TEXT_CHARS)


class MoMediaItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str | None = Field(default=None, max_length=2048)
    content_type: str = Field(max_length=255)
    status: str = Field(max_length=64)


class MoMediaBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    message: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    media: list[MoMediaItem] | None = Field(default=None, max_length=MAX_MEDIA_ITEMS)  # Sinch's may be null


class MoMedia(_Mo):
    type: Literal["mo_media"]
    body: MoMediaBody


# mo_binary is refused (a 400, which Sinch does not retry): binary SMS carry no text or keyword.
_MO: TypeAdapter[MoText | MoMedia] = TypeAdapter(Annotated[MoText | MoMedia, Field(discriminator="type")])


def parse_mo(raw: str) -> InboundMessage:
    """One MO SMS (`mo_text`) or MMS (`mo_media`); MalformedReport when the body is neither. An
    MMS's message is its text, keywords included: a STOP sent as an MMS opts out all the same."""
    try:
        mo = _MO.validate_json(raw)
    except ValidationError as exc:
        raise MalformedReport(
            [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        ) from None
    media: tuple[InboundMedia, ...] = ()
    omitted = 0
    if isinstance(mo, MoText):
        text, subject = mo.body, None
    else:
        text, subject = mo.body.message or "", mo.body.subject
        media, omitted = kept_media(InboundMedia.model_validate(i.model_dump()) for i in mo.body.media or ())
    return InboundMessage(
        id=mo.id,
        from_="+" + mo.from_.removeprefix("+"),
        to=mo.to,
        body=text,
        subject=subject,
        media=media,
        media_omitted=omitted,
        action=action_of(text),
        # Sinch's client reference on an MO is that of the message it answers: our message id.
        message_id=mo.client_reference or None,
        received_at=mo.received_at,
        created_at=utcnow(),
    )
