"""What a message must pass before it is recorded, whichever way it came in (API, dry run, queue):
the tenant's policy first (cheap, and no media is fetched for a refused destination), then the
recipient's opt-out (one read), then its media (fetched once, checked and kept: Sinch gets the
kept copy), then, for a template, the template itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from sinch_gateway.api.models import SendMessageRequest, SlideRequest
from sinch_gateway.domain.content import MmsSlidesContent, MmsTemplateContent, Slide, SlideMedia, SlideText
from sinch_gateway.domain.errors import Conflict, InvalidRequest
from sinch_gateway.domain.inbound import RecipientOptedOut
from sinch_gateway.domain.message import MessageDraft
from sinch_gateway.domain.mms_media import MediaKind, combination_problem, kind_of
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus
from sinch_gateway.media.preflight import MediaInfo
from sinch_gateway.usecases.ports import MediaStore, OptOutLookup, SenderNumber, TenantStore

MediaCheck = Callable[[str], MediaInfo]
# Raises InvalidRequest on statusCallbackUrl when the address breaks the media rules (no request made).
CallbackCheck = Callable[[str], None]


class TemplateLookup(Protocol):
    def get_for_tenant(self, tenant_id: str, template_id: str) -> MmsTemplate | None: ...


class Admission:
    def __init__(
        self,
        tenants: TenantStore,
        check_media: MediaCheck,
        templates: TemplateLookup,
        *,
        opt_outs: OptOutLookup,
        sender_number: SenderNumber,
        check_callback: CallbackCheck,
        media: MediaStore,
    ) -> None:
        self._tenants = tenants
        self._check_media = check_media
        self._templates = templates
        self._opt_outs = opt_outs
        self._sender_number = sender_number
        self._check_callback = check_callback
        self._media = media

    def admit(self, request: SendMessageRequest, tenant_id: str) -> MessageDraft:
        """The message as it will be stored; raises the InvalidRequest (or Conflict) the caller
        should hear."""
        policy = self._tenants.policy(tenant_id)
        policy.check(request.to, request.channel)
        if request.from_mask is not None:
            policy.check_sender("fromMask", request.from_mask)
        if request.status_callback_url is not None:
            self._check_callback(str(request.status_callback_url))
        if self._opt_outs.opted_out(request.to, self._sender_number()):
            raise RecipientOptedOut(
                "The recipient has opted out of messages from this sender number (they texted STOP); "
                "nothing was sent. They can text START to opt back in.",
                errors=[("to", "has opted out (texted STOP to the sender number)")],
            )
        match request.kind:
            case "xms-media":
                info = self._check_media(str(request.media_url))
                return request.draft(media_key=self._media.keep(info.body, info.content_type))
            case "mms-slides":
                assert request.slides is not None and request.subject is not None
                content = MmsSlidesContent(
                    slides=self.check_slides(request.slides, field="slides"),
                    subject=request.subject,
                    fallback_text=request.fallback_text,
                    disable_fallback_sms=request.disable_fallback_sms,
                    disable_fallback_sms_link=request.disable_fallback_sms_link,
                    from_mask=request.from_mask,
                )
                return request.draft(content)
            case "mms-template":
                return request.draft(self._template_content(request, tenant_id))
            case _:
                return request.draft()

    def check_slides(self, slides: Sequence[SlideRequest], *, field: str) -> tuple[Slide, ...]:
        """Every slide's media through the preflight, then the MMS JSON API's type and
        combination rules; a failure is a 422 on `<field>[i].mediaUrl`. Only once every slide
        passed is its media kept."""
        checked: list[tuple[str | None, list[MediaInfo]]] = []
        for number, slide in enumerate(slides):
            where = f"{field}[{number}].mediaUrl"
            infos: list[MediaInfo] = []
            kinds: list[MediaKind] = []
            for url in slide.media_urls:
                try:
                    info = self._check_media(url)
                except InvalidRequest as exc:
                    raise InvalidRequest(exc.detail, errors=[(where, m) for _, m in exc.errors]) from None
                kind = kind_of(info.content_type)
                if kind is None:
                    raise InvalidRequest(
                        "A slide's media cannot be sent through Sinch's MMS API.",
                        errors=[
                            (where, f"has a Content-Type Sinch's MMS API does not take: {info.content_type}")
                        ],
                    )
                infos.append(info)
                kinds.append(kind)
            if problem := combination_problem(kinds):
                raise InvalidRequest("A slide's media cannot go together.", errors=[(where, problem)])
            checked.append((slide.text, infos))
        return tuple(
            Slide(
                text=text,
                media=tuple(
                    SlideMedia(
                        url=url,
                        content_type=info.content_type,
                        key=self._media.keep(info.body, info.content_type),
                    )
                    for url, info in zip(slide.media_urls, infos, strict=True)
                ),
            )
            for slide, (text, infos) in zip(slides, checked, strict=True)
        )

    def _template_content(self, request: SendMessageRequest, tenant_id: str) -> MmsTemplateContent:
        assert request.template_id is not None
        template = self._templates.get_for_tenant(tenant_id, request.template_id)
        if template is None:
            raise InvalidRequest("No such template.", errors=[("templateId", "is not one of your templates")])
        if template.status is not TemplateStatus.READY or template.mms_id is None:
            reason = f": {template.error_text}" if template.error_text else ""
            raise Conflict(
                f"The template is {template.status}{reason}; only a ready template can be sent.",
                errors=[("templateId", f"is {template.status}, not ready")],
            )
        slide_texts = request.slide_texts or []
        for number, slide_text in enumerate(slide_texts):
            if slide_text.slide > len(template.slides):
                raise InvalidRequest(
                    "A slide text names a slide the template does not have.",
                    errors=[
                        (f"slideTexts[{number}].slide", f"the template has {len(template.slides)} slides")
                    ],
                )
        # Sinch takes a saved template's subject, but wants the fallback text on every send.
        fallback_text = request.fallback_text or template.fallback_text
        if fallback_text is None and not request.disable_fallback_sms:
            raise InvalidRequest(
                "The template has no fallback text.",
                errors=[("fallbackText", "is required: the template has none (or set disableFallbackSms)")],
            )
        return MmsTemplateContent(
            template_id=template.id,
            mms_id=template.mms_id,
            slide_texts=tuple(SlideText(slide=s.slide, text=s.text) for s in slide_texts),
            subject=request.subject,
            fallback_text=fallback_text,
            disable_fallback_sms=request.disable_fallback_sms,
            disable_fallback_sms_link=request.disable_fallback_sms_link,
            from_mask=request.from_mask,
        )
