"""Checked media, kept in the stack's S3 bucket: Sinch is given a link to the bytes the preflight read, never
the caller's URL, so what it sends cannot change after the check.

The link is made afresh for each call to Sinch, from the stored key, never stored itself: a
presigned URL also dies with the credentials that signed it (a Lambda role's are temporary), so an
old one may be dead by the next attempt however long it was asked to live.
"""

from __future__ import annotations

import math
from datetime import datetime

from sinch_gateway.domain.content import MessageContent, MmsSlidesContent, Slide, SlideMedia, XmsMediaContent
from sinch_gateway.usecases.ports import MediaStore

# S3 refuses a SigV4 presigned URL asked to live longer than 7 days.
MAX_LINK_S = 7 * 24 * 60 * 60
# A message with kept media due sooner than this goes to Sinch at once, scheduled there.
HAND_OVER_AHEAD_S = 60.0


def held_for_s(content: MessageContent, send_at: datetime | None, now: datetime) -> float:
    """How long a scheduled message with kept media waits in the gateway before it goes to Sinch:
    until it is due (0 when it goes now).

    A link signed days ahead of `sendAt` could die with the signer's temporary credentials before
    Sinch fetches it; a link made when the message is due needs to live only Sinch's fetch window.
    """
    if send_at is None or not has_kept_media(content):
        return 0.0
    ahead = (send_at - now).total_seconds()
    return ahead if ahead > HAND_OVER_AHEAD_S else 0.0


def has_kept_media(content: MessageContent) -> bool:
    match content:
        case XmsMediaContent(media_key=str()):
            return True
        case MmsSlidesContent(slides=slides):
            return any(item.key is not None for slide in slides for item in slide.media)
        case _:
            return False


def link_lifetime_s(send_at: datetime | None, now: datetime, fetch_window_s: float) -> int:
    """How long a link handed to Sinch now must work: until a scheduled message goes out, plus the
    time Sinch may take to fetch it from then on (at most S3's limit)."""
    ahead = max(0.0, (send_at - now).total_seconds()) if send_at is not None else 0.0
    return min(MAX_LINK_S, math.ceil(ahead + fetch_window_s))


def linked(content: MessageContent, media: MediaStore, expires_in_s: int) -> MessageContent:
    """`content` as Sinch is to get it: each kept copy's link in place of the caller's URL."""
    match content:
        case XmsMediaContent(media_key=str(key)):
            return content.model_copy(update={"media_url": media.link(key, expires_in_s)})
        case MmsSlidesContent(slides=slides):
            return content.model_copy(update={"slides": linked_slides(slides, media, expires_in_s)})
        case _:
            return content


def linked_slides(slides: tuple[Slide, ...], media: MediaStore, expires_in_s: int) -> tuple[Slide, ...]:
    def link(item: SlideMedia) -> SlideMedia:
        if item.key is None:
            return item
        return item.model_copy(update={"url": media.link(item.key, expires_in_s)})

    return tuple(slide.model_copy(update={"media": tuple(map(link, slide.media))}) for slide in slides)
