"""The MMS JSON API's media rules: which content types it takes, as which kind of slide object, and
which kinds may share a slide (https://developers.sinch.com/docs/mms/api-reference/mms)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

MediaKind = Literal["image", "audio", "video", "contact", "calendar", "pdf"]

KINDS: dict[str, MediaKind] = {
    **dict.fromkeys(("image/jpeg", "image/jpg", "image/png", "image/gif"), "image"),
    **dict.fromkeys(("audio/mpeg", "audio/mp3", "audio/x-wav", "audio/x-wave", "audio/amr"), "audio"),
    **dict.fromkeys(
        (
            "video/mp4",
            "video/mpeg",
            "video/x-msvideo",
            "video/x-ms-wmv",
            "video/quicktime",
            "video/3gpp",
        ),
        "video",
    ),
    **dict.fromkeys(("text/vcard", "text/v-card", "text/x-vcard"), "contact"),
    "text/calendar": "calendar",
    **dict.fromkeys(("application/pdf", "application/x-pdf"), "pdf"),
}
# Which kinds each kind may share a slide with: images and audio together; a video alone; contact
# cards, calendars and PDFs with each other only.
_COMPANIONS: dict[MediaKind, frozenset[MediaKind]] = {
    "image": frozenset({"audio"}),
    "audio": frozenset({"image"}),
    "video": frozenset(),
    "contact": frozenset({"calendar", "pdf"}),
    "calendar": frozenset({"contact", "pdf"}),
    "pdf": frozenset({"contact", "calendar"}),
}
MAX_SLIDES = 8
MAX_SLIDE_TEXT_CHARS = 5000
MAX_MEDIA_PER_SLIDE = 3


def kind_of(content_type: str) -> MediaKind | None:
    return KINDS.get(content_type.split(";", maxsplit=1)[0].strip().lower())


def combination_problem(kinds: Sequence[MediaKind]) -> str | None:
    """Why these kinds cannot share one slide, or None when they can."""
    for i, kind in enumerate(kinds):
        for other in kinds[i + 1 :]:
            if other == kind:
                return f"holds two {kind} files: a slide has at most one of each kind"
            if other not in _COMPANIONS[kind]:
                return f"puts {an(kind)} {kind} and {an(other)} {other} on one slide: Sinch refuses that"
    return None


def an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
