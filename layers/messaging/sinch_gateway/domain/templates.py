"""Saved MMS templates (the MMS JSON API's `savemms`): one tenant's, pending until Sinch's N003
postback makes them ready (with Sinch's `mms-id`) or an E002-E004 postback fails them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.content import Slide
from sinch_gateway.domain.message import utcnow


class TemplateStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class MmsTemplate(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    tenant_id: str = Field(min_length=1)
    name: str
    subject: str
    slides: tuple[Slide, ...]
    fallback_text: str | None = None
    status: TemplateStatus = TemplateStatus.PENDING
    mms_id: str | None = None  # Sinch's template id, once ready
    tracking_id: str | None = None  # of the savemms request: Sinch's postbacks carry it
    error_code: str | None = None
    error_text: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TemplateReport(BaseModel):
    """A postback about a template (N003 ready; E002, E003, E004 encoding failed)."""

    template_id: str | None  # ours: the savemms request's client reference
    tracking_id: str | None
    code: str
    ready: bool
    mms_id: str | None = None
    detail: str | None = None
