"""Public API shapes (v1). These pydantic models are the single source of the OpenAPI document."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.batches import (
    DEFAULT_KEY,
    MAX_PARAMETER_VALUE_CHARS,
    MAX_RECIPIENTS,
    PARAMETER_NAME,
    BatchRecord,
    BatchStatus,
    Refusal,
    RefusalType,
    placeholders,
)
from sinch_gateway.domain.commands import (
    AskedContent,
    AskedSlide,
    AskedSlides,
    AskedTemplate,
    BatchCommand,
    MmsOptions,
    NewTemplate,
    SendCommand,
)
from sinch_gateway.domain.content import Api, Channel, SlideText, SmsContent, XmsMediaContent
from sinch_gateway.domain.inbound import Action, InboundMedia, InboundMessage
from sinch_gateway.domain.listing import MessageSummary
from sinch_gateway.domain.message import SINCH_VALIDITY, MessageRecord, StatusEvent
from sinch_gateway.domain.mms_media import MAX_MEDIA_PER_SLIDE, MAX_SLIDE_TEXT_CHARS, MAX_SLIDES
from sinch_gateway.domain.phone import InvalidPhoneNumber, mms_unavailable_reason, normalize_e164
from sinch_gateway.domain.segments import count_segments
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus

SMS_MAX_CHARS = 1600
MMS_MAX_CHARS = 5000
SUBJECT_MAX_CHARS = 80
MAX_WRITTEN_NUMBER_CHARS = 32  # E.164 has at most 15 digits; room for separators
MAX_PARAMETERS = 20  # names per batch
MAX_SCHEDULE_AHEAD = SINCH_VALIDITY  # as far ahead as Sinch lets a message live
# Characters that show nothing on a handset, beyond what str.isspace() knows: format characters
# (zero-width space and joiners, BOM, bidi marks), Hangul fillers, braille blank, variation selectors.
_SHOWS_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800") | frozenset(map(chr, range(0xFE00, 0xFE10)))


ISO_TIME = "must be a date and time in ISO 8601 with a time zone, e.g. 2026-12-01T10:00:00Z"
PRINTABLE_ASCII = r"^[\x20-\x7e]+$"
FROM_MASK = r"^[A-Za-z0-9 ]{1,11}$"
# What each pattern a field must match means, for the client.
_PATTERNS = {
    PRINTABLE_ASCII: "must be printable ASCII characters (no line breaks, nothing beyond ~)",
    PARAMETER_NAME.pattern: "must be a name of 1 to 16 letters, digits, '.', '_' or '-'",
    FROM_MASK: "must be 1 to 11 letters, digits or spaces",
}
_TYPE_NAMES = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a JSON array",
    "url_type": "a URL (text)",
    "datetime_type": "a date and time (ISO 8601 text)",
}
# What pydantic says in its own words, for every error our models can raise, said in ours.
_MESSAGES = {
    "extra_forbidden": "is not a known field",
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    # A lone UTF-16 surrogate ("\ud800" in JSON) is no character: nothing could store or send it.
    "string_unicode": "is not valid Unicode text: it contains a lone surrogate (\\ud800-\\udfff)",
    "url_parsing": "is not a valid URL",
    "url_scheme": "must be an https URL",
    "url_too_long": "is too long for a URL",
    "url_syntax_violation": "is not a valid URL",
    "datetime_parsing": ISO_TIME,
    "datetime_from_date_parsing": ISO_TIME,
    "timezone_aware": "must say its time zone, e.g. 2026-12-01T10:00:00Z or +01:00",
    "literal_error": "is not one of the allowed values",
    "enum": "is not one of the allowed values",
    "json_invalid": "is not valid JSON",
}


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic error in our words; the field it names says where."""
    kind = str(error.get("type"))
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]}"
    if described := _with_context(kind, error.get("ctx") or {}):
        return described
    # Our own validators' messages are already ours; pydantic prefixes them.
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ") if kind == "value_error" else "is not valid"


def _with_context(kind: str, context: Mapping[str, Any]) -> str | None:
    """The messages that need the constraint pydantic names (a length, a bound, a pattern)."""
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(str(context.get("pattern")), "has characters or a form not allowed here")
    if kind in ("string_too_short", "too_short"):
        least = context.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} {_units(kind)}"
    if kind in ("string_too_long", "too_long"):
        return f"must have at most {context.get('max_length')} {_units(kind)}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("more than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {context.get(key)}"
    return None


def _units(kind: str) -> str:
    return "characters" if kind.startswith("string") else "items"


def field_path(loc: Sequence[Any], *, unknown_key: bool = False) -> str:
    """Where an error is, in the API's own names: "slides.0.mediaUrl". (pydantic names a field
    by its Python name when the error is about its default, e.g. a required-by-rule field left
    out.) An `unknown_key` error's last part is the client's own key, named as they sent it."""
    # pydantic names the member of a union that failed ("function-wrap[...]", "list[...]"): not
    # a part of the request.
    loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
    parts = [to_camel(p) if isinstance(p, str) and "_" in p else str(p) for p in loc]
    if unknown_key and loc:
        parts[-1] = str(loc[-1])
    return ".".join(parts) or "body"


def error_field(error: Mapping[str, Any]) -> str:
    """The field a pydantic error is about, as field_path names it."""
    return field_path(error.get("loc", ()), unknown_key=error.get("type") == "extra_forbidden")


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


# RFC 3339 as text: pydantic would also read a bare date, or a number as seconds since 1970.
_RFC_3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc_3339(value: object) -> object:
    if not (isinstance(value, str) and _RFC_3339.fullmatch(value)):
        raise ValueError(
            "must be a date and time in RFC 3339 with a time zone, e.g. 2026-12-01T10:00:00Z "
            "(in a URL, write the + of an offset as %2B)"
        )
    return value


def _listed_e164(value: str | None) -> str | None:
    return None if value is None else normalize_e164(value)


# Listing filters (query parameters): a number as a send takes it, a time as RFC 3339 has it.
ListedRecipient = Annotated[str | None, AfterValidator(_listed_e164)]
ListedTime = Annotated[AwareDatetime | None, BeforeValidator(lambda v: v if v is None else _rfc_3339(v))]


Kind = Literal["sms", "xms-media", "mms-slides", "mms-template"]


def _kind(info: ValidationInfo) -> Kind | None:
    """What the request is, from the fields declared before the one being checked; None when one
    of them was itself invalid (it has its own error, and nothing else is judged by it)."""
    data = info.data
    if any(name not in data for name in ("media_url", "slides", "template_id")):
        return None
    if data["template_id"] is not None:
        return "mms-template"
    if data["slides"] is not None:
        return "mms-slides"
    return "xms-media" if data["media_url"] is not None else "sms"


def _visible(value: str | None) -> str | None:
    if value is not None and is_blank(value):
        raise ValueError("must contain something visible, not only spaces or invisible characters")
    return value


# A field_validator, not Annotated[str, AfterValidator]: that form loses pydantic's refusal of a
# lone surrogate (string_unicode).
def _visible_fields(*names: str) -> Any:
    return field_validator(*names)(classmethod(lambda cls, value: _visible(value)))


class SlideRequest(_ApiModel):
    """One slide of an MMS sent through the MMS JSON API: text, media, or both."""

    model_config = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)

    text: str | None = Field(default=None, min_length=1, max_length=MAX_SLIDE_TEXT_CHARS)
    _text_visible = _visible_fields("text")
    media_url: HttpUrl | list[HttpUrl] | None = Field(
        default=None,
        description="The slide's media: one URL, or up to 3 of different kinds that may share a "
        "slide (an image with audio; a contact card, a calendar and a PDF)",
    )

    @field_validator("media_url")
    @classmethod
    def _a_few_urls(cls, value: HttpUrl | list[HttpUrl] | None) -> HttpUrl | list[HttpUrl] | None:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_MEDIA_PER_SLIDE:
            raise ValueError(f"must hold 1 to {MAX_MEDIA_PER_SLIDE} URLs")
        return value

    def asked(self) -> AskedSlide:
        if self.media_url is None:
            return AskedSlide(self.text)
        urls = self.media_url if isinstance(self.media_url, list) else [self.media_url]
        return AskedSlide(self.text, tuple(str(url) for url in urls))


class SlideTextRequest(_ApiModel):
    """New text for one slide of a saved template."""

    model_config = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)

    slide: int = Field(ge=1, le=MAX_SLIDES, description="The slide's number, from 1")
    text: str = Field(min_length=1, max_length=MAX_SLIDE_TEXT_CHARS)
    _text_visible = _visible_fields("text")


class _ContentRequest(_ApiModel):
    """What a message or a batch sends, and when. Its fields say which kind: `text` alone is an
    SMS; `mediaUrl` an MMS with one file (Sinch's XMS API); `slides` or `templateId` a rich MMS
    (Sinch's MMS JSON API)."""

    # Only the documented (camelCase) names: `media_url` is as unknown to clients as any typo.
    model_config = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)
    # A batch's text may hold ${name} placeholders, filled per recipient: its maxParts is checked
    # per recipient, on the text each gets.
    _fills_placeholders: ClassVar[bool] = False

    # Declared first: the rules of the fields after them depend on which kind this is (_kind).
    media_url: HttpUrl | None = Field(default=None, description="Media for a one-file MMS (https)")
    slides: list[SlideRequest] | None = Field(
        default=None, description=f"1 to {MAX_SLIDES} slides of an MMS through the MMS JSON API"
    )
    template_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="A saved MMS template (POST /v1/mms-templates)"
    )
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=MMS_MAX_CHARS,
        validate_default=True,
        description=f"Message text: required for SMS (at most {SMS_MAX_CHARS} characters), "
        f"optional with mediaUrl (at most {MMS_MAX_CHARS}); slides carry their own",
    )
    max_parts: int | None = Field(
        default=None,
        ge=1,
        description="SMS only: the most segments the text may cost; a text needing more is a 422 "
        "naming how many it needs, and nothing is sent",
    )
    subject: str | None = Field(
        default=None,
        min_length=1,
        max_length=SUBJECT_MAX_CHARS,
        validate_default=True,
        description="MMS subject: optional with mediaUrl, required with slides, a template's own otherwise",
    )
    disable_fallback_sms: bool = Field(
        default=False,
        description="MMS JSON API: send no SMS to a handset that cannot take MMS",
    )
    fallback_text: str | None = Field(
        default=None,
        min_length=1,
        max_length=SMS_MAX_CHARS,
        validate_default=True,
        description="MMS JSON API: the SMS a handset that cannot take MMS gets instead (required with "
        "slides unless disableFallbackSms; a template's own otherwise)",
    )
    disable_fallback_sms_link: bool = Field(
        default=False, description="MMS JSON API: no link to the MMS content in the fallback SMS"
    )
    from_mask: str | None = Field(
        default=None,
        pattern=FROM_MASK,
        description="MMS JSON API: an alphanumeric sender shown instead of the number, where allowed",
    )
    slide_texts: list[SlideTextRequest] | None = Field(
        default=None, max_length=MAX_SLIDES, description="With templateId: new text for some slides"
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
        "in the future and at most 3 days ahead (with text or mediaUrl only). An MMS more than a "
        "minute ahead waits in the gateway (accepted) until due",
    )
    expire_at: AwareDatetime | None = Field(
        default=None,
        description="When Sinch is to stop trying to deliver it (ISO 8601 with a time zone): after "
        "now and after sendAt, at most 3 days after sendAt (or after now). Default: 3 days after "
        "acceptance, or after sendAt. A message with no final report by then ends expired",
    )
    status_callback_url: HttpUrl | None = Field(
        default=None,
        description="Where each status change is POSTed, signed (https, on port 443, to a public "
        "address: the same rules as mediaUrl)",
    )

    def _content(self) -> AskedContent:
        options = MmsOptions(
            subject=self.subject,
            fallback_text=self.fallback_text,
            disable_fallback_sms=self.disable_fallback_sms,
            disable_fallback_sms_link=self.disable_fallback_sms_link,
            from_mask=self.from_mask,
        )
        if self.template_id is not None:
            slide_texts = tuple(SlideText(slide=s.slide, text=s.text) for s in self.slide_texts or ())
            return AskedTemplate(self.template_id, slide_texts, options)
        if self.slides is not None:
            return AskedSlides(tuple(slide.asked() for slide in self.slides), options)
        if self.media_url is not None:
            return XmsMediaContent(media_url=str(self.media_url), text=self.text, subject=self.subject)
        return SmsContent(text=self.text or "")

    @field_validator("slides")
    @classmethod
    def _one_kind_of_mms(
        cls, slides: list[SlideRequest] | None, info: ValidationInfo
    ) -> list[SlideRequest] | None:
        if slides is None:
            return None
        if info.data.get("media_url") is not None:
            raise ValueError("cannot be combined with mediaUrl")
        if not 1 <= len(slides) <= MAX_SLIDES:
            raise ValueError(f"must hold 1 to {MAX_SLIDES} slides")
        for number, slide in enumerate(slides):
            if slide.text is None and slide.media_url is None:
                raise ValueError(f"slide {number} is empty: give it text, mediaUrl or both")
        return slides

    @field_validator("template_id")
    @classmethod
    def _template_alone(cls, template_id: str | None, info: ValidationInfo) -> str | None:
        if template_id is not None and (
            info.data.get("media_url") is not None or info.data.get("slides") is not None
        ):
            raise ValueError("cannot be combined with mediaUrl or slides: the template holds the content")
        return template_id

    @field_validator("send_at")
    @classmethod
    def _schedule_within_sinchs_window(
        cls, send_at: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        if send_at is None:
            return None
        if _kind(info) in ("mms-slides", "mms-template"):
            raise ValueError("is not available with slides or templateId (Sinch's MMS API sends at once)")
        now = datetime.now(UTC)
        if send_at <= now:
            raise ValueError("must be in the future")
        if send_at > now + MAX_SCHEDULE_AHEAD:
            raise ValueError("must be at most 3 days ahead")
        return send_at.astimezone(UTC)

    @field_validator("expire_at")
    @classmethod
    def _expiry_within_sinchs_window(
        cls, expire_at: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        if expire_at is None:
            return None
        if "send_at" not in info.data:
            return expire_at  # sendAt has its own error, and nothing else is judged by it
        send_at: datetime | None = info.data["send_at"]
        start = send_at or datetime.now(UTC)
        if expire_at <= start:
            raise ValueError("must be after sendAt" if send_at else "must be in the future")
        if expire_at > start + SINCH_VALIDITY:
            raise ValueError(f"must be at most 3 days after {'sendAt' if send_at else 'now'}")
        return expire_at.astimezone(UTC)

    _texts_visible = _visible_fields("text", "subject", "fallback_text")

    @field_validator("text")
    @classmethod
    def _text_for_its_kind(cls, text: str | None, info: ValidationInfo) -> str | None:
        match _kind(info):
            case "sms":
                if text is None:
                    raise ValueError(
                        "is required for an SMS (a message without mediaUrl, slides or templateId)"
                    )
                if len(text) > SMS_MAX_CHARS:
                    raise ValueError(f"must be at most {SMS_MAX_CHARS} characters for an SMS")
            case "mms-slides" | "mms-template" if text is not None:
                raise ValueError("is not used with slides or templateId: put the text on the slides")
        return text

    @field_validator("max_parts")
    @classmethod
    def _text_within_max_parts(cls, max_parts: int | None, info: ValidationInfo) -> int | None:
        if max_parts is None:
            return None
        if _kind(info) not in ("sms", None):
            raise ValueError("is only used with an SMS (a message with text alone)")
        text = info.data.get("text")
        if text is not None and cls._fills_placeholders and placeholders(text):
            return max_parts
        if text is not None and (needed := count_segments(text)).segments > max_parts:
            raise ValueError(
                f"is {max_parts}, but the text needs {needed.segments} segments "
                f"({needed.encoding} encoding): shorten it or raise maxParts"
            )
        return max_parts

    @field_validator("subject")
    @classmethod
    def _subject_for_its_kind(cls, subject: str | None, info: ValidationInfo) -> str | None:
        match _kind(info):
            case "sms" if subject is not None:
                raise ValueError("is only allowed for an MMS (with mediaUrl, slides or templateId)")
            case "mms-slides" if subject is None:
                raise ValueError("is required with slides")
        return subject

    @field_validator("fallback_text")
    @classmethod
    def _fallback_for_its_kind(cls, fallback: str | None, info: ValidationInfo) -> str | None:
        kind = _kind(info)
        if kind in ("sms", "xms-media") and fallback is not None:
            raise ValueError("is only used with slides or templateId")
        if kind == "mms-slides" and fallback is None and not info.data.get("disable_fallback_sms"):
            raise ValueError(
                "is required with slides: the SMS a handset that cannot take MMS gets "
                "(or set disableFallbackSms)"
            )
        return fallback

    @field_validator("disable_fallback_sms", "disable_fallback_sms_link", "from_mask")
    @classmethod
    def _mms_json_options(cls, value: object, info: ValidationInfo) -> object:
        if value not in (None, False) and _kind(info) in ("sms", "xms-media"):
            raise ValueError("is only used with slides or templateId")
        return value

    @field_validator("slide_texts")
    @classmethod
    def _slide_texts_for_templates(
        cls, slide_texts: list[SlideTextRequest] | None, info: ValidationInfo
    ) -> list[SlideTextRequest] | None:
        if slide_texts is not None and _kind(info) not in ("mms-template", None):
            raise ValueError("is only used with templateId")
        return slide_texts


class SendMessageRequest(_ContentRequest):
    """A message to send. Its fields say which kind: `text` alone is an SMS; `mediaUrl` an MMS with
    one file (Sinch's XMS API); `slides` or `templateId` a rich MMS (Sinch's MMS JSON API)."""

    to: E164

    def command(self) -> SendCommand:
        """What the request asks for, in the use cases' terms (the one place it is read)."""
        return SendCommand(
            to=self.to,
            content=self._content(),
            client_reference=self.client_reference,
            send_at=self.send_at,
            expire_at=self.expire_at,
            status_callback_url=str(self.status_callback_url) if self.status_callback_url else None,
        )

    @field_validator("to")
    @classmethod
    def _mms_needs_a_country_sinch_serves(cls, to: str, info: ValidationInfo) -> str:
        if _kind(info) not in ("sms", None) and (reason := mms_unavailable_reason(to)):
            raise ValueError(reason)
        return to


# A number as a batch request writes it: checked per recipient (a malformed one is refused, the
# rest still go), but never longer than a number can be written.
WrittenNumber = Annotated[str, Field(min_length=1, max_length=MAX_WRITTEN_NUMBER_CHARS)]
ParameterName = Annotated[str, Field(pattern=PARAMETER_NAME.pattern)]
ParameterValue = Annotated[str, Field(max_length=MAX_PARAMETER_VALUE_CHARS)]


class BatchRequest(_ContentRequest):
    """One message to many recipients: each gets a message of its own, its `${name}` placeholders
    filled from `parameters`."""

    _fills_placeholders = True

    to: list[WrittenNumber] = Field(
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description=f"1 to {MAX_RECIPIENTS} recipients in E.164; one that cannot be sent to is "
        "listed in `refused` with why, and the rest still go",
        examples=[["+12025550143", "+12025550144"]],
    )
    parameters: dict[ParameterName, dict[str, ParameterValue]] | None = Field(
        default=None,
        max_length=MAX_PARAMETERS,
        description="Values for the text's ${name} placeholders (Sinch's parameters): per name, a "
        'value per recipient number and optionally a "default" for the others. Names: 1 to 16 '
        "letters, digits, '.', '_' or '-'; values at most 160 characters",
        examples=[{"name": {"+12025550143": "Ann", "default": "customer"}}],
    )

    def command(self) -> BatchCommand:
        """What the request asks for, in the use cases' terms (the one place it is read)."""
        return BatchCommand(
            to=tuple(self.to),
            content=self._content(),
            parameters=self.parameters or {},
            max_parts=self.max_parts,
            client_reference=self.client_reference,
            send_at=self.send_at,
            expire_at=self.expire_at,
            status_callback_url=str(self.status_callback_url) if self.status_callback_url else None,
        )

    @field_validator("parameters")
    @classmethod
    def _parameters_by_number(
        cls, parameters: dict[str, dict[str, str]] | None, info: ValidationInfo
    ) -> dict[str, dict[str, str]] | None:
        """Each value keyed by the number in E.164 (as `to` is read), or "default"."""
        if parameters is None:
            return None
        if _kind(info) not in ("sms", "xms-media", None):
            raise ValueError("is only used with text (an SMS, or an MMS with mediaUrl)")
        by_number: dict[str, dict[str, str]] = {}
        for name, values in parameters.items():
            if len(values) > MAX_RECIPIENTS + 1:
                raise ValueError(f"{name}: must have at most {MAX_RECIPIENTS + 1} values")
            by_number[name] = {}
            for key, value in values.items():
                number = key if key == DEFAULT_KEY else _parameter_number(name, key)
                if number in by_number[name]:
                    raise ValueError(f"{name}: names {number} twice")
                by_number[name][number] = value
        return by_number


def _parameter_number(name: str, key: str) -> str:
    try:
        return normalize_e164(key)
    except InvalidPhoneNumber as exc:
        raise ValueError(
            f'{name}: each key must be a recipient\'s number in E.164 or "default"; {key[:32]!r} {exc}'
        ) from None


class TemplateRequest(_ApiModel):
    """An MMS template to save (Sinch's savemms): send it later with templateId."""

    model_config = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)

    name: str = Field(min_length=1, max_length=128, description="Your name for it")
    subject: str = Field(min_length=1, max_length=SUBJECT_MAX_CHARS)
    slides: list[SlideRequest] = Field(min_length=1, max_length=MAX_SLIDES)
    fallback_text: str | None = Field(
        default=None,
        min_length=1,
        max_length=SMS_MAX_CHARS,
        description="The SMS a handset that cannot take MMS gets instead (a send may replace it)",
    )
    _texts_visible = _visible_fields("name", "subject", "fallback_text")

    def command(self) -> NewTemplate:
        slides = tuple(slide.asked() for slide in self.slides)
        return NewTemplate(self.name, self.subject, slides, self.fallback_text)

    @field_validator("slides")
    @classmethod
    def _no_empty_slide(cls, slides: list[SlideRequest]) -> list[SlideRequest]:
        for number, slide in enumerate(slides):
            if slide.text is None and slide.media_url is None:
                raise ValueError(f"slide {number} is empty: give it text, mediaUrl or both")
        return slides


class SlideView(_ApiModel):
    text: str | None = None
    media: list[str] = Field(default_factory=list, description="The slide's media URLs")


class TemplateView(_ApiModel):
    """A saved MMS template: pending until Sinch has prepared it, then ready (or failed)."""

    id: str
    status: TemplateStatus
    name: str
    subject: str
    slides: list[SlideView]
    fallback_text: str | None = None
    error: MessageError | None = None
    created_at: datetime
    updated_at: datetime


class MessageErrorCode(_ApiModel):
    code: str


class MessageError(MessageErrorCode):
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
    expire_at: datetime | None = Field(
        default=None, description="When Sinch stops trying to deliver it (its expireAt, or the default)"
    )
    created_at: datetime


class MessageView(MessageAccepted):
    """Answer to GET /v1/messages/{id}."""

    sinch_id: str | None = Field(
        default=None, description="Sinch's id for it: the XMS batch id, or the MMS JSON API's tracking id"
    )
    batch_id: str | None = Field(
        default=None, description="The batch (POST /v1/batches) it was sent in, if any"
    )
    attempts: int
    error: MessageError | None = None
    delivered_as: Channel | None = Field(
        default=None, description='"sms" when Sinch delivered an MMS as its fallback SMS'
    )
    events: list[StatusEvent]
    updated_at: datetime


def template_view(template: MmsTemplate) -> TemplateView:
    error = (
        MessageError(code=template.error_code, text=template.error_text or "")
        if template.error_code
        else None
    )
    return TemplateView(
        id=template.id,
        status=template.status,
        name=template.name,
        subject=template.subject,
        slides=[SlideView(text=s.text, media=[m.url for m in s.media]) for s in template.slides],
        fallback_text=template.fallback_text,
        error=error,
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


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
        expire_at=record.expires_at,
        created_at=record.created_at,
    )


def message_view(record: MessageRecord) -> MessageView:
    error = MessageError(code=record.error_code, text=record.error_text or "") if record.error_code else None
    return MessageView(
        **accepted_view(record).model_dump(),
        sinch_id=record.sinch_id,
        batch_id=record.batch_id,
        attempts=record.attempts,
        error=error,
        delivered_as=record.delivered_as,
        events=record.events,
        updated_at=record.updated_at,
    )


class MessageSummaryView(_ApiModel):
    """A message as a listing shows it: GET /v1/messages/{id} has the rest (its events, the
    error's text)."""

    id: str
    status: Status
    channel: Channel
    to: str
    client_reference: str | None = None
    segments: int | None = Field(default=None, description="SMS segments the text needs")
    error: MessageErrorCode | None = None
    created_at: datetime


def summary_view(summary: MessageSummary) -> MessageSummaryView:
    return MessageSummaryView(
        **summary.model_dump(exclude={"error_code"}),
        error=MessageErrorCode(code=summary.error_code) if summary.error_code else None,
    )


class MessagePage(_ApiModel):
    """Answer to GET /v1/messages: newest first."""

    items: list[MessageSummaryView]
    next_token: str | None = Field(
        default=None,
        description="Pass as nextToken for the next page; null on the last. A page may hold fewer "
        "items than `limit`, none even, and still have a nextToken: `limit` bounds the messages read, "
        "and the filters may let fewer through",
    )


class InboundView(_ApiModel):
    """An SMS or MMS a handset sent to our sender number, in answer to one of your messages."""

    id: str = Field(description="Sinch's id for the inbound message")
    from_: str = Field(alias="from", description="The handset's number, E.164")
    to: str = Field(description="Our sender number it was sent to, as Sinch wrote it")
    body: str = Field(description="The text (an MMS's message; empty when it has none)")
    subject: str | None = Field(default=None, description="An MMS's subject")
    media: list[InboundMedia] = Field(default_factory=list, description="An MMS's files, as Sinch keeps them")
    media_omitted: int = Field(
        default=0,
        description="How many more files Sinch listed: their details (past 32 KiB in all) are not kept",
    )
    action: Action | None = Field(
        default=None,
        description="opted-out: a STOP keyword (later sends to this number are refused); "
        "opted-in: START or UNSTOP",
    )
    message_id: str | None = Field(default=None, description="The id of your message it answers")
    received_at: datetime = Field(description="When Sinch received it")


def inbound_view(message: InboundMessage) -> InboundView:
    return InboundView.model_validate(message.model_dump(include=set(InboundView.model_fields)))


class InboundPage(_ApiModel):
    """Answer to GET /v1/inbound: newest first."""

    items: list[InboundView]
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


class RefusalView(_ApiModel):
    """A recipient of a batch that will not be sent to, and why (the rest still go)."""

    to: str = Field(description="The number as it was written in `to`")
    type: RefusalType = Field(
        description="malformed: not a valid number in E.164; not_allowed: a country this API key may "
        "not send to (or, for an MMS, one Sinch delivers no MMS to); opted_out: it texted STOP to "
        "the sender number; duplicate: the same number as an earlier recipient; missing_parameter: "
        "a ${name} in the text with no value for it and no default; too_many_parts: its text, "
        "filled in, needs more segments than maxParts"
    )
    detail: str


def refusal_view(refusal: Refusal) -> RefusalView:
    return RefusalView(to=refusal.to, type=refusal.type, detail=refusal.detail)


class BatchAcceptedView(_ApiModel):
    """Answer to POST /v1/batches: the recipients taken, each to get a message of its own."""

    id: str
    status: BatchStatus
    recipients: int = Field(description="Recipients taken (refused ones are not counted)")
    refused: list[RefusalView]


class BatchView(_ApiModel):
    """Answer to GET and DELETE /v1/batches/{id}: how far the batch's recipients got."""

    id: str
    status: BatchStatus = Field(
        description="accepted: none handed to Sinch yet; sending: some handed over; done: every "
        "recipient handed over or ended; cancelled: by DELETE (recipients not yet handed over end "
        "cancelled)"
    )
    recipients: int
    counts: dict[Status, int] = Field(
        description="Recipients per message status; a recipient whose message is not made yet "
        "counts as accepted"
    )
    created_at: datetime
    updated_at: datetime


def batch_view(batch: BatchRecord, status: BatchStatus, counts: Mapping[Status, int]) -> BatchView:
    return BatchView(
        id=batch.id,
        status=status,
        recipients=batch.recipients,
        counts=dict(counts),
        created_at=batch.created_at,
        updated_at=batch.updated_at,
    )
