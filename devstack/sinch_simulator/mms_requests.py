"""MMS JSON API requests (`sendmms`, `savemms`, `sendsavedmms`): their fields, checks and error codes.

Every check answers the first problem it finds, in the order the parsers below read the fields:
`service-id`, `to`, `from`, `from-mask`, `mms-id` or `name`, `message-subject`, the fallback
fields, `client-reference`, the timestamps, then the slides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from .common import is_http_url, parse_iso
from .mediatypes import MMS_KINDS

MAX_SLIDES = 8
MAX_SLIDE_TEXT = 5000
MAX_SUBJECT = 80
MAX_CLIENT_REFERENCE = 64
MAX_EXPIRY = timedelta(days=3)  # mms-expiry-timestamp
MAX_LINK_EXPIRY = timedelta(days=366)  # fallback-sms-link-expiration: "a year"
TO = re.compile(r"^\+?[1-9]\d{6,14}$")  # a number with its country code
FROM = re.compile(r"^\+?\d{3,15}$")  # short code, toll-free or 10DLC number
FROM_MASK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ]{0,10}$")  # alphanumeric sender: at most 11 chars
SLIDE_NUMBER = re.compile(r"^[1-9]\d?$")

# The codes the API answers with, and what they mean (Sinch's appendix of XML and JSON API errors).
ERRORS: dict[str, str] = {
    "E100": "Invalid request",
    "E104": "Authentication failed: invalid or missing API key",
    "E106": "API calls are too frequent",
    "E108": "The request body could not be parsed",
    "E110": "Invalid to",
    "E111": "Invalid from",
    "E113": "API throughput exceeded",
    "E223": "More than one object of the same type in a slide",
    "E224": "Image, audio or video with another kind of object in a slide",
    "E225": "Too many slides",
    "E226": "Audio and video in the same slide",
    "E227": "Video and image in the same slide",
    "E228": "Message text too long",
    "E241": "Invalid mms-id",
    "E311": "name is required",
    "E312": "No slides",
    "E313": "Slide is empty",
    "E314": "message-subject is invalid",
    "E331": "Image too big",
    "E332": "Audio too big",
    "E333": "Video too big",
    "E335": "vCard too big",
    "E336": "iCal too big",
    "E337": "PDF too big",
    "E351": "Could not copy the image",
    "E352": "Could not copy the audio",
    "E353": "Could not copy the video",
    "E355": "Could not copy the vCard",
    "E356": "Could not copy the iCal",
    "E357": "Could not copy the PDF",
    "E620": "mms-id is required",
    "E622": "fallback-sms-text is required",
    "E626": "MMS encoding in progress",
    "E627": "Invalid or missing service-id",
    "E629": "Unrecognized content type",
}
TOO_LARGE = dict(zip(MMS_KINDS, ("E331", "E332", "E333", "E335", "E336", "E337"), strict=True))
UNREACHABLE = dict(zip(MMS_KINDS, ("E351", "E352", "E353", "E355", "E356", "E357"), strict=True))

_COMMON = frozenset(
    {
        "action",
        "message-subject",
        "fallback-sms-text",
        "disable-fallback-sms",
        "disable-fallback-sms-link",
        "fallback-sms-link-expiration",
        "client-reference",
    }
)
_SENDING = frozenset({"service-id", "to", "from", "from-mask", "mms-expiry-timestamp"})
FIELDS = {
    "sendmms": _COMMON | _SENDING | {"cache-content", "slide"},
    "savemms": _COMMON | {"name", "slide"},
    "sendsavedmms": _COMMON | _SENDING | {"mms-id", "custom-slides"},
}


class MmsError(Exception):
    """A failure answer: `error-code` and `error-info`."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        self.code = code
        self.info = f"{ERRORS[code]}: {detail}" if detail else ERRORS[code]
        super().__init__(f"{code} {self.info}")


class JsonObject(dict[str, Any]):
    """A JSON object that remembers the names it was given more than once (JSON allows it)."""

    repeated: frozenset[str] = frozenset()


def repeated(obj: dict[str, Any]) -> frozenset[str]:
    return obj.repeated if isinstance(obj, JsonObject) else frozenset()


def json_object(pairs: list[tuple[str, Any]]) -> JsonObject:
    """`object_pairs_hook` for json.loads: the last value wins, as usual, and repeats are kept."""
    obj = JsonObject(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        obj.repeated = frozenset(name for name in names if names.count(name) > 1)
    return obj


@dataclass(frozen=True)
class Media:
    kind: str  # image, audio, video, contact, calendar or pdf
    url: str


@dataclass(frozen=True)
class Slide:
    media: tuple[Media, ...]
    text: str | None


@dataclass(frozen=True)
class Content:
    """What a message or a template holds."""

    subject: str | None
    fallback_text: str | None
    fallback: bool  # not disable-fallback-sms
    slides: tuple[Slide, ...]

    def as_json(self) -> dict[str, Any]:
        """In the API's own field names (what /_sim/mms-templates shows of a template)."""
        shown: dict[str, Any] = {}
        if self.subject is not None:
            shown["message-subject"] = self.subject
        if self.fallback_text is not None:
            shown["fallback-sms-text"] = self.fallback_text
        shown["disable-fallback-sms"] = not self.fallback
        shown["slide"] = [
            {m.kind: {"url": m.url} for m in slide.media}
            | ({} if slide.text is None else {"message-text": slide.text})
            for slide in self.slides
        ]
        return shown


@dataclass(frozen=True)
class Message:
    """One MMS to one handset: a `sendmms`, or a `sendsavedmms` with its template applied."""

    to: str
    sender: str  # `from`
    from_mask: str | None
    client_reference: str | None
    content: Content
    mms_id: str | None = None  # the template's, for sendsavedmms


@dataclass(frozen=True)
class TemplateRequest:
    """A `savemms`."""

    name: str
    client_reference: str | None
    content: Content


@dataclass(frozen=True)
class SavedSend:
    """A `sendsavedmms`, before its template is looked up."""

    mms_id: str
    to: str
    sender: str
    from_mask: str | None
    client_reference: str | None
    subject: str | None
    fallback_text: str | None
    disable_fallback: bool | None  # None: as the template says
    custom_texts: tuple[tuple[str, str], ...]  # (slide number as given, replacement text)

    def apply(self, template: Content) -> Message:
        """The message this request sends with the template: E622, E100 for a slide it lacks."""
        fallback = template.fallback if self.disable_fallback is None else not self.disable_fallback
        if fallback and not self.fallback_text:
            raise MmsError("E622", "fallback-sms-text is required unless disable-fallback-sms is true")
        slides = list(template.slides)
        for number, text in self.custom_texts:
            if int(number) > len(slides):
                raise MmsError("E100", f"custom-slide {number}: the template has {len(slides)} slides")
            slides[int(number) - 1] = replace(slides[int(number) - 1], text=text)
        content = Content(
            subject=self.subject if self.subject is not None else template.subject,
            fallback_text=self.fallback_text or template.fallback_text,
            fallback=fallback,
            slides=tuple(slides),
        )
        return Message(self.to, self.sender, self.from_mask, self.client_reference, content, self.mms_id)


def action(data: Any) -> str:
    """The request's action, once its body is known to be an object with only known fields."""
    if not isinstance(data, dict):
        raise MmsError("E100", "the body must be a JSON object")
    name = data.get("action")
    if not isinstance(name, str) or name not in FIELDS:
        raise MmsError("E100", "action must be sendmms, savemms or sendsavedmms")
    if repeated(data):
        raise MmsError("E100", f"{', '.join(sorted(repeated(data)))} given more than once")
    unknown = set(data) - FIELDS[name]
    if unknown:
        raise MmsError("E100", f"unknown field {', '.join(sorted(unknown))} for {name}")
    return str(name)


def parse_sendmms(data: dict[str, Any], service_id: str, now: datetime) -> Message:
    to, sender, mask = _addressing(data, service_id)
    content, client_reference = _content(data, fallback_required=True, now=now)
    return Message(to, sender, mask, client_reference, content)


def parse_savemms(data: dict[str, Any], now: datetime) -> TemplateRequest:
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MmsError("E311")
    # fallback-sms-text is not required here: each sendsavedmms gives its own (or disables fallback).
    content, client_reference = _content(data, fallback_required=False, now=now)
    return TemplateRequest(name, client_reference, content)


def parse_sendsavedmms(data: dict[str, Any], service_id: str, now: datetime) -> SavedSend:
    to, sender, mask = _addressing(data, service_id)
    mms_id = data.get("mms-id")
    if mms_id is None or mms_id == "":
        raise MmsError("E620")
    if not isinstance(mms_id, str):
        raise MmsError("E241", "mms-id must be a string")
    subject = _subject(data)
    fallback_text = _fallback_text(data)
    disable_fallback = _flag(data, "disable-fallback-sms")
    _flag(data, "disable-fallback-sms-link")  # checked; the fallback SMS itself is not simulated
    client_reference = _client_reference(data)
    _timestamps(data, now)
    return SavedSend(
        mms_id=mms_id,
        to=to,
        sender=sender,
        from_mask=mask,
        client_reference=client_reference,
        subject=subject,
        fallback_text=fallback_text,
        disable_fallback=disable_fallback,
        custom_texts=_custom_texts(data.get("custom-slides")),
    )


def _addressing(data: dict[str, Any], service_id: str) -> tuple[str, str, str | None]:
    if data.get("service-id") != service_id:
        raise MmsError("E627")
    to, sender, mask = data.get("to"), data.get("from"), data.get("from-mask")
    if not isinstance(to, str) or not TO.match(to):
        raise MmsError("E110", f"{to!r} is not a number with its country code")
    if not isinstance(sender, str) or not FROM.match(sender):
        raise MmsError("E111", f"{sender!r} is not a short code or a number with its country code")
    if mask is not None and (not isinstance(mask, str) or not FROM_MASK.match(mask)):
        raise MmsError("E111", "from-mask must be 1 to 11 letters, digits or spaces")
    return to, sender, mask


def _subject(data: dict[str, Any]) -> str | None:
    subject = data.get("message-subject")
    if subject is not None and (not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT):
        raise MmsError("E314", f"message-subject must be a text of 1 to {MAX_SUBJECT} characters")
    return subject


def _fallback_text(data: dict[str, Any]) -> str | None:
    text = data.get("fallback-sms-text")
    if text is not None and not isinstance(text, str):
        raise MmsError("E100", "fallback-sms-text must be a string")
    return text


def _flag(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise MmsError("E100", f"{name} must be true or false")
    return value


def _client_reference(data: dict[str, Any]) -> str | None:
    value = data.get("client-reference")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_CLIENT_REFERENCE):
        raise MmsError(
            "E100", f"client-reference must be a string of at most {MAX_CLIENT_REFERENCE} characters"
        )
    return value


def _timestamp(data: dict[str, Any], name: str, now: datetime, longest: timedelta) -> None:
    value = data.get(name)
    if value is None:
        return
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        when = parse_iso(value)
    except ValueError:
        raise MmsError("E100", f"{name} must be an ISO-8601 date and time") from None
    if not now < when <= now + longest:
        raise MmsError("E100", f"{name} must be in the future and at most {longest.days} days ahead")


def _timestamps(data: dict[str, Any], now: datetime) -> None:
    _timestamp(data, "fallback-sms-link-expiration", now, MAX_LINK_EXPIRY)
    _timestamp(data, "mms-expiry-timestamp", now, MAX_EXPIRY)


def _content(data: dict[str, Any], *, fallback_required: bool, now: datetime) -> tuple[Content, str | None]:
    """The content of a sendmms or savemms, and its client-reference (checked in between)."""
    subject = _subject(data)
    fallback_text = _fallback_text(data)
    disable_fallback = _flag(data, "disable-fallback-sms")
    _flag(data, "disable-fallback-sms-link")  # checked; the fallback SMS itself is not simulated
    _flag(data, "cache-content")
    if fallback_required and not disable_fallback and not fallback_text:
        raise MmsError("E622", "fallback-sms-text is required unless disable-fallback-sms is true")
    client_reference = _client_reference(data)
    _timestamps(data, now)
    content = Content(
        subject=subject,
        fallback_text=fallback_text,
        fallback=not disable_fallback,
        slides=_slides(data.get("slide")),
    )
    return content, client_reference


def _slides(value: Any) -> tuple[Slide, ...]:
    if value is None or value == []:
        raise MmsError("E312")
    if not isinstance(value, list):
        raise MmsError("E100", "slide must be an array of slides")
    if len(value) > MAX_SLIDES:
        raise MmsError("E225", f"{len(value)} slides; at most {MAX_SLIDES}")
    return tuple(_slide(number, raw) for number, raw in enumerate(value, 1))


def _slide(number: int, raw: Any) -> Slide:
    if not isinstance(raw, dict):
        raise MmsError("E100", f"slide {number} must be an object")
    twice = repeated(raw)
    if twice & set(MMS_KINDS):
        raise MmsError("E223", f"slide {number} has more than one {', '.join(sorted(twice))}")
    if twice:
        raise MmsError("E100", f"slide {number} gives {', '.join(sorted(twice))} more than once")
    unknown = set(raw) - {*MMS_KINDS, "message-text"}
    if unknown:
        raise MmsError("E100", f"slide {number} has unknown content {', '.join(sorted(unknown))}")
    text = raw.get("message-text")
    if text is not None and not isinstance(text, str):
        raise MmsError("E100", f"slide {number}: message-text must be a string")
    if text is not None and len(text) > MAX_SLIDE_TEXT:
        raise MmsError("E228", f"slide {number}: {len(text)} characters; at most {MAX_SLIDE_TEXT}")
    kinds = [kind for kind in MMS_KINDS if kind in raw]
    if not kinds and not text:
        raise MmsError("E313", f"slide {number} has neither media nor message-text")
    _combination(number, set(kinds))
    return Slide(tuple(Media(kind, _url(number, kind, raw[kind])) for kind in kinds), text)


def _url(number: int, kind: str, value: Any) -> str:
    url = value.get("url") if isinstance(value, dict) and set(value) == {"url"} else None
    if not is_http_url(url):
        raise MmsError("E100", f'slide {number}: {kind} must be {{"url": "<an http(s) URL>"}}')
    return str(url)


def _combination(number: int, kinds: set[str]) -> None:
    """Per slide: image and audio go together; video goes alone; contact, calendar and pdf go
    with each other but with no image, audio or video."""
    where = f"slide {number}"
    if {"video", "audio"} <= kinds:
        raise MmsError("E226", where)
    if {"video", "image"} <= kinds:
        raise MmsError("E227", where)
    if kinds & {"image", "audio", "video"} and kinds & {"contact", "calendar", "pdf"}:
        raise MmsError("E224", where)


def _custom_texts(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MmsError("E100", "custom-slides must be an array")
    texts = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"custom-slide", "custom-message-text"}:
            raise MmsError("E100", "each custom slide is {custom-slide, custom-message-text}")
        number, text = item["custom-slide"], item["custom-message-text"]
        if not isinstance(number, str) or not SLIDE_NUMBER.match(number) or int(number) > MAX_SLIDES:
            raise MmsError("E100", f"custom-slide must be a slide number from 1 to {MAX_SLIDES}, as a string")
        if not isinstance(text, str):
            raise MmsError("E100", "custom-message-text must be a string")
        if len(text) > MAX_SLIDE_TEXT:
            raise MmsError("E228", f"custom slide {number}: {len(text)} characters; at most {MAX_SLIDE_TEXT}")
        texts.append((number, text))
    return tuple(texts)
