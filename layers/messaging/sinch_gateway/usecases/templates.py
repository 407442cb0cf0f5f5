"""Saved MMS templates: POST /v1/mms-templates (Sinch's `savemms`) and GET, per tenant. A template is
pending until Sinch's postback makes it ready or failed (see report_intake)."""

from __future__ import annotations

from typing import Protocol

from aws_lambda_powertools import Logger

from sinch_gateway.domain.answers import refusal_problem
from sinch_gateway.domain.commands import NewTemplate
from sinch_gateway.domain.content import Slide
from sinch_gateway.domain.errors import (
    GatewayError,
    SinchMisconfigured,
    SinchUnavailable,
    TemplateNotFound,
)
from sinch_gateway.domain.outcomes import Accepted, AuthFailed, Refused, SendOutcome, Transient
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.media import linked_slides
from sinch_gateway.usecases.ports import MediaStore
from sinch_gateway.usecases.report_intake import TemplateSettler

logger = Logger(child=True)


class TemplateChannel(Protocol):
    def save_template(
        self, template_id: str, name: str, subject: str, slides: tuple[Slide, ...], fallback_text: str | None
    ) -> SendOutcome: ...


class TemplateStore(TemplateSettler, Protocol):
    """The report intake's port (settle), and what creating a template needs besides."""

    def create(self, template: MmsTemplate) -> None: ...

    def get_for_tenant(self, tenant_id: str, template_id: str) -> MmsTemplate | None: ...

    def set_tracking(self, template_id: str, tracking_id: str) -> None: ...


class Templates:
    def __init__(
        self,
        store: TemplateStore,
        channel: TemplateChannel,
        admission: Admission,
        *,
        media: MediaStore,
        link_s: int,
    ) -> None:
        self._store = store
        self._channel = channel
        self._admission = admission
        self._media = media
        self._link_s = link_s  # Sinch fetches a template's media when it saves it

    def create(self, tenant_id: str, request: NewTemplate) -> MmsTemplate:
        """Check the slides' media, record the template pending, hand it to Sinch. Raises the
        problem the client should hear when Sinch did not take it (the template ends failed)."""
        slides = self._admission.check_slides(request.slides, field="slides")
        template = MmsTemplate(
            tenant_id=tenant_id,
            name=request.name,
            subject=request.subject,
            slides=slides,
            fallback_text=request.fallback_text,
        )
        # Recorded first: Sinch's postback may come before its answer, and must find it.
        self._store.create(template)
        slides = linked_slides(template.slides, self._media, self._link_s)
        outcome = self._channel.save_template(
            template.id, template.name, template.subject, slides, template.fallback_text
        )
        if isinstance(outcome, Accepted):
            self._store.set_tracking(template.id, outcome.sinch_id)
            logger.info("Sinch took the template", extra={"template_id": template.id})
            return template.model_copy(update={"tracking_id": outcome.sinch_id})
        error = _problem(outcome, template.id)
        self._store.settle(
            template.id, TemplateStatus.FAILED, error_code=_code(outcome), error_text=error.detail
        )
        raise error

    def get(self, tenant_id: str, template_id: str) -> MmsTemplate:
        template = self._store.get_for_tenant(tenant_id, template_id)
        if template is None:
            raise TemplateNotFound(f"No template with id {template_id}.")
        return template


def _code(outcome: Transient | Refused | AuthFailed) -> str:
    match outcome:
        case Refused(_, code, _):
            return code
        case AuthFailed():
            return "sinch_unauthorized"
        case Transient(reason):
            return reason[:64]


def _problem(outcome: Transient | Refused | AuthFailed, template_id: str) -> GatewayError:
    match outcome:
        case Refused() as refused:
            return refusal_problem(refused, templateId=template_id)
        case AuthFailed(detail):
            return SinchMisconfigured(
                f"Sinch refused the gateway's credentials ({detail}); the template was recorded as failed.",
                extra={"templateId": template_id},
            )
        case Transient(reason, retry_after_s):
            return SinchUnavailable(
                f"Sinch did not take the template ({reason}); create it again.",
                retry_after_s=max(1, round(retry_after_s or 5)),
                extra={"templateId": template_id},
            )
