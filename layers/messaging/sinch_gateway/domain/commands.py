"""What a caller asks for, read once at the edge (the API, the SendQueue reader) and checked for
shape there; admission then turns a SendCommand into the message as it will be stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sinch_gateway.domain.batches import Parameters
from sinch_gateway.domain.content import Channel, MessageContent, SlideText, SmsContent, XmsMediaContent
from sinch_gateway.domain.message import MessageDraft


@dataclass(frozen=True)
class MmsOptions:
    """The MMS JSON API's options of a message (named as its content's)."""

    subject: str | None = None
    fallback_text: str | None = None
    disable_fallback_sms: bool = False
    disable_fallback_sms_link: bool = False
    from_mask: str | None = None


@dataclass(frozen=True)
class AskedSlide:
    """One slide as asked: its media not fetched yet."""

    text: str | None
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class AskedSlides:
    """A rich MMS of slides, their media to be checked and kept."""

    slides: tuple[AskedSlide, ...]
    options: MmsOptions


@dataclass(frozen=True)
class AskedTemplate:
    """A saved template, to be looked up (it must be the tenant's, and ready)."""

    template_id: str
    slide_texts: tuple[SlideText, ...]
    options: MmsOptions


# An SMS is complete as asked; a one-file MMS lacks only the key of its kept media.
AskedContent = SmsContent | XmsMediaContent | AskedSlides | AskedTemplate


@dataclass(frozen=True)
class _Asked:
    """What a message or a batch asks for besides its recipients."""

    content: AskedContent

    @property
    def channel(self) -> Channel:
        return Channel.SMS if isinstance(self.content, SmsContent) else Channel.MMS

    @property
    def from_mask(self) -> str | None:
        content = self.content
        return content.options.from_mask if isinstance(content, AskedSlides | AskedTemplate) else None


@dataclass(frozen=True)
class SendCommand(_Asked):
    """One message to send, as its caller asked for it."""

    to: str
    client_reference: str | None = None
    send_at: datetime | None = None
    expire_at: datetime | None = None
    status_callback_url: str | None = None

    def draft(self, content: MessageContent) -> MessageDraft:
        """The message as it will be stored, with its content as admission made it."""
        return MessageDraft(
            to=self.to,
            content=content,
            client_reference=self.client_reference,
            send_at=self.send_at,
            expire_at=self.expire_at,
            status_callback_url=self.status_callback_url,
        )


@dataclass(frozen=True)
class BatchCommand(_Asked):
    """One batch, as its caller asked for it: `to` as written (the use case checks each number,
    and refuses a recipient, not the batch); `parameters` keyed by E.164 number or "default"."""

    to: tuple[str, ...]
    parameters: Parameters = field(default_factory=dict)
    max_parts: int | None = None
    client_reference: str | None = None
    send_at: datetime | None = None
    expire_at: datetime | None = None
    status_callback_url: str | None = None


@dataclass(frozen=True)
class NewTemplate:
    """An MMS template to save at Sinch."""

    name: str
    subject: str
    slides: tuple[AskedSlide, ...]
    fallback_text: str | None = None
