"""What a message says, as we store it: one of four kinds, each sent through one Sinch API.

This is the stored shape, not the API's: the request is turned into it once, after its checks,
and every later attempt, view and channel works from it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Channel(StrEnum):
    """What the recipient gets."""

    SMS = "sms"
    MMS = "mms"


class Api(StrEnum):
    """Which Sinch API carries it."""

    XMS = "xms"
    MMS_JSON = "mms-json"


class _Stored(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, frozen=True
    )


class SmsContent(_Stored):
    kind: Literal["sms"] = "sms"
    text: str


class XmsMediaContent(_Stored):
    """An MMS with one media file, over XMS (`mt_media`)."""

    kind: Literal["xms-media"] = "xms-media"
    media_url: str  # the caller's: shown back to them, never given to Sinch when a copy is kept
    # The kept copy of the checked bytes (usecases.media): Sinch gets a link to it. None on a
    # message recorded before copies were kept: Sinch then fetches media_url itself.
    media_key: str | None = None
    text: str | None = None
    subject: str | None = None


class SlideMedia(_Stored):
    url: str
    content_type: str  # as the preflight saw it: it decides the slide's media kind
    key: str | None = None  # as XmsMediaContent.media_key


class Slide(_Stored):
    text: str | None = None
    media: tuple[SlideMedia, ...] = ()


class _MmsJsonOptions(_Stored):
    subject: str | None = None
    fallback_text: str | None = None
    disable_fallback_sms: bool = False
    disable_fallback_sms_link: bool = False
    from_mask: str | None = None


class MmsSlidesContent(_MmsJsonOptions):
    """An MMS of up to 8 slides, over the MMS JSON API (`sendmms`)."""

    kind: Literal["mms-slides"] = "mms-slides"
    slides: tuple[Slide, ...]


class SlideText(_Stored):
    slide: int
    text: str


class MmsTemplateContent(_MmsJsonOptions):
    """An MMS from a saved template, over the MMS JSON API (`sendsavedmms`)."""

    kind: Literal["mms-template"] = "mms-template"
    template_id: str  # ours
    mms_id: str  # Sinch's, from the template's N003 postback
    slide_texts: tuple[SlideText, ...] = ()


MessageContent = Annotated[
    SmsContent | XmsMediaContent | MmsSlidesContent | MmsTemplateContent, Field(discriminator="kind")
]


def channel_of(content: MessageContent) -> Channel:
    return Channel.SMS if isinstance(content, SmsContent) else Channel.MMS


def api_of(content: MessageContent) -> Api:
    return Api.XMS if isinstance(content, SmsContent | XmsMediaContent) else Api.MMS_JSON
