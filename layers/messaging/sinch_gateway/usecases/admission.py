"""What a message must pass before it is recorded, whichever way it came in (API, dry run, queue):
the tenant's policy first (cheap, and no media is fetched for a refused destination), then the
recipient's opt-out (one read), then its media (every file of the request fetched together within
one time budget, checked, and kept: Sinch gets the kept copy), then, for a template, the template
itself. A dry run checks all the same and keeps nothing. A batch passes the same checks: its
content once for every recipient, each recipient's policy and opt-out on its own
(usecases.batch_intake)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from typing import Protocol

from sinch_gateway.domain.commands import (
    AskedContent,
    AskedSlide,
    AskedSlides,
    AskedTemplate,
    BatchCommand,
    SendCommand,
)
from sinch_gateway.domain.content import (
    MessageContent,
    MmsSlidesContent,
    MmsTemplateContent,
    Slide,
    SlideMedia,
    XmsMediaContent,
)
from sinch_gateway.domain.errors import Conflict, InvalidRequest, MediaUnavailable
from sinch_gateway.domain.inbound import RecipientOptedOut
from sinch_gateway.domain.message import MessageDraft
from sinch_gateway.domain.mms_media import MediaKind, combination_problem, kind_of
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus
from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.media.preflight import MediaInfo
from sinch_gateway.usecases.ports import MediaStore, OptOutLookup, SenderNumber, TenantStore

# Raises InvalidRequest on statusCallbackUrl when the address breaks the media rules (no request made).
CallbackCheck = Callable[[str], None]
# Keeps checked media and gives its key; None: kept nowhere (a dry run writes nothing).
Keep = Callable[[MediaInfo], str | None]


class MediaCheck(Protocol):
    def __call__(
        self, urls: Sequence[str], *, budget_s: float | None = None
    ) -> list[MediaInfo | InvalidRequest]:
        """Every URL of one request checked together, all within one time budget (the policy's, or
        `budget_s` when given): for each, its MediaInfo or the InvalidRequest on "mediaUrl" saying
        why not (MediaUnavailable when a later try may pass)."""
        ...


_LATER = "The media could not be fetched now; the same request may pass later."


def _not_kept(_: MediaInfo) -> None:
    return None


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

    def admit(
        self, command: SendCommand, tenant_id: str, *, media_budget_s: float | None = None
    ) -> MessageDraft:
        """The message as it will be stored, its media kept; raises the InvalidRequest (or
        Conflict) the caller should hear. `media_budget_s`: less time for the media than the
        policy's (a queued request late in its invocation)."""
        return self._admit(command, tenant_id, self._keep, media_budget_s)

    def check(self, command: SendCommand, tenant_id: str) -> MessageDraft:
        """As `admit`, keeping nothing: a dry run writes nowhere."""
        return self._admit(command, tenant_id, _not_kept, None)

    def _keep(self, info: MediaInfo) -> str:
        return self._media.keep(info.body, info.content_type)

    def _admit(
        self, command: SendCommand, tenant_id: str, keep: Keep, media_budget_s: float | None
    ) -> MessageDraft:
        self._checked_policy(command, tenant_id, command.to)
        if self._opt_outs.opted_out(command.to, self._sender_number()):
            raise RecipientOptedOut(
                "The recipient has opted out of messages from this sender number (they texted STOP); "
                "nothing was sent. They can text START to opt back in.",
                errors=[("to", "has opted out (texted STOP to the sender number)")],
            )
        return command.draft(self._content(command.content, tenant_id, keep, media_budget_s))

    def batch_policy(self, command: BatchCommand, tenant_id: str) -> TenantPolicy:
        """What a batch must pass as a whole (its channel, sender, status callback URL): raises the
        InvalidRequest the caller should hear; the tenant's policy, for each recipient's country."""
        return self._checked_policy(command, tenant_id)

    def opted_out(self, recipients: Sequence[str]) -> frozenset[str]:
        """Which of `recipients` (E.164) opted out of the number we send from, read together."""
        return self._opt_outs.opted_out_all(recipients, self._sender_number())

    def batch_content(self, command: BatchCommand, tenant_id: str) -> MessageContent:
        """A batch's content, admitted once for every recipient: media checked and kept, a
        template looked up."""
        return self._content(command.content, tenant_id, self._keep, None)

    def _checked_policy(
        self, command: SendCommand | BatchCommand, tenant_id: str, to: str | None = None
    ) -> TenantPolicy:
        policy = self._tenants.policy(tenant_id)
        policy.check_channel(command.channel)
        if to is not None:
            policy.check_country(to)
        if command.from_mask is not None:
            policy.check_sender("fromMask", command.from_mask)
        if command.status_callback_url is not None:
            self._check_callback(command.status_callback_url)
        return policy

    def _content(
        self, content: AskedContent, tenant_id: str, keep: Keep, media_budget_s: float | None
    ) -> MessageContent:
        match content:
            case XmsMediaContent() as media:
                [info] = self._fetched([("mediaUrl", media.media_url)], media_budget_s)
                return media.model_copy(update={"media_key": keep(info)})
            case AskedSlides(slides, options):
                checked = self._checked_slides(slides, "slides", keep, media_budget_s)
                return MmsSlidesContent(slides=checked, **asdict(options))
            case AskedTemplate() as asked:
                return self._template_content(asked, tenant_id)
            case sms:
                return sms

    def check_slides(self, slides: Sequence[AskedSlide], *, field: str) -> tuple[Slide, ...]:
        """A template's slides, checked as a message's are, their media kept."""
        return self._checked_slides(slides, field, self._keep, None)

    def _checked_slides(
        self, slides: Sequence[AskedSlide], field: str, keep: Keep, budget_s: float | None
    ) -> tuple[Slide, ...]:
        """Every slide's media through the preflight (all files together, one budget), then the
        MMS JSON API's type and combination rules; each failure is a 422 on `<field>[i].mediaUrl`.
        Only once every slide passed is its media kept."""
        places = [
            (f"{field}[{number}].mediaUrl", url)
            for number, slide in enumerate(slides)
            for url in slide.media_urls
        ]
        fetched = iter(self._fetched(places, budget_s))
        checked = [[next(fetched) for _ in slide.media_urls] for slide in slides]
        errors = [
            (f"{field}[{number}].mediaUrl", problem)
            for number, infos in enumerate(checked)
            for problem in _slide_problems(infos)
        ]
        if errors:
            raise InvalidRequest("A slide's media cannot be sent through Sinch's MMS API.", errors=errors)
        return tuple(
            Slide(
                text=slide.text,
                media=tuple(
                    SlideMedia(url=url, content_type=info.content_type, key=keep(info))
                    for url, info in zip(slide.media_urls, infos, strict=True)
                ),
            )
            for slide, infos in zip(slides, checked, strict=True)
        )

    def _fetched(self, places: list[tuple[str, str]], budget_s: float | None) -> list[MediaInfo]:
        """Each (field, URL)'s media, all checked together; a refusal names every field that
        failed, and is MediaUnavailable only when each of them may pass on a later try."""
        results = self._check_media([url for _, url in places], budget_s=budget_s)
        refusals = [
            (field, result)
            for (field, _), result in zip(places, results, strict=True)
            if isinstance(result, InvalidRequest)
        ]
        if refusals:
            kind = (
                MediaUnavailable
                if all(isinstance(r, MediaUnavailable) for _, r in refusals)
                else InvalidRequest
            )
            detail = _LATER if kind is MediaUnavailable else refusals[0][1].detail
            raise kind(detail, errors=[(field, m) for field, r in refusals for _, m in r.errors])
        return [result for result in results if isinstance(result, MediaInfo)]

    def _template_content(self, asked: AskedTemplate, tenant_id: str) -> MmsTemplateContent:
        template = self._templates.get_for_tenant(tenant_id, asked.template_id)
        if template is None:
            raise InvalidRequest("No such template.", errors=[("templateId", "is not one of your templates")])
        if template.status is not TemplateStatus.READY or template.mms_id is None:
            reason = f": {template.error_text}" if template.error_text else ""
            raise Conflict(
                f"The template is {template.status}{reason}; only a ready template can be sent.",
                errors=[("templateId", f"is {template.status}, not ready")],
            )
        for number, slide_text in enumerate(asked.slide_texts):
            if slide_text.slide > len(template.slides):
                raise InvalidRequest(
                    "A slide text names a slide the template does not have.",
                    errors=[
                        (f"slideTexts[{number}].slide", f"the template has {len(template.slides)} slides")
                    ],
                )
        # Sinch takes a saved template's subject, but wants the fallback text on every send.
        options = replace(asked.options, fallback_text=asked.options.fallback_text or template.fallback_text)
        if options.fallback_text is None and not options.disable_fallback_sms:
            raise InvalidRequest(
                "The template has no fallback text.",
                errors=[("fallbackText", "is required: the template has none (or set disableFallbackSms)")],
            )
        return MmsTemplateContent(
            template_id=template.id, mms_id=template.mms_id, slide_texts=asked.slide_texts, **asdict(options)
        )


def _slide_problems(infos: Sequence[MediaInfo]) -> Iterator[str]:
    """What the MMS JSON API would refuse in one slide's checked media: a type it does not take,
    or kinds that cannot go together."""
    kinds: list[MediaKind] = []
    for info in infos:
        kind = kind_of(info.content_type)
        if kind is None:
            yield f"has a Content-Type Sinch's MMS API does not take: {info.content_type}"
        else:
            kinds.append(kind)
    if len(kinds) == len(infos) and (problem := combination_problem(kinds)):
        yield problem
