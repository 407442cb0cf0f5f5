"""What the MMS JSON API side holds: saved templates (savemms) and the handsets that take no MMS."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from .common import iso, utcnow
from .mms_requests import Content, TemplateRequest
from .validation import msisdn_key


class TemplateState(Enum):
    ENCODING = "encoding"
    READY = "ready"
    FAILED = "failed"


@dataclass
class Template:
    mms_id: str
    name: str
    tracking_id: str
    client_reference: str | None
    content: Content
    created_at: datetime
    state: TemplateState = TemplateState.ENCODING

    def as_json(self) -> dict[str, Any]:
        return {
            "mms-id": self.mms_id,
            "name": self.name,
            "state": self.state.value,
            "tracking-id": self.tracking_id,
            "created_at": iso(self.created_at),
            **self.content.as_json(),
        }


class MmsStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._templates: dict[str, Template] = {}
        self._no_mms: dict[str, str] = {}  # msisdn key -> the number as given
        # mms-ids are never reused, not even after a reset: a client's stale id stays unknown.
        self._ids = itertools.count(1_000_001)

    def clear(self) -> None:
        with self._lock:
            self._templates.clear()
            self._no_mms.clear()

    def add_template(self, request: TemplateRequest, tracking_id: str) -> Template:
        with self._lock:
            mms_id = str(next(self._ids))
            template = Template(
                mms_id, request.name, tracking_id, request.client_reference, request.content, utcnow()
            )
            self._templates[mms_id] = template
            return template

    def template(self, mms_id: str) -> tuple[TemplateState, Content] | None:
        with self._lock:
            template = self._templates.get(mms_id)
            return (template.state, template.content) if template else None

    def finish_template(self, mms_id: str, ready: bool) -> bool:
        """Encoding is over; False when the template is gone (a reset)."""
        with self._lock:
            template = self._templates.get(mms_id)
            if template is None:
                return False
            template.state = TemplateState.READY if ready else TemplateState.FAILED
            return True

    def templates(self) -> list[dict[str, Any]]:
        with self._lock:
            return [t.as_json() for t in self._templates.values()]

    def set_handset(self, number: str, mms: bool) -> None:
        with self._lock:
            if mms:
                self._no_mms.pop(msisdn_key(number), None)
            else:
                self._no_mms[msisdn_key(number)] = number

    def takes_mms(self, number: str) -> bool:
        with self._lock:
            return msisdn_key(number) not in self._no_mms

    def handsets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"number": number, "mms": False} for number in self._no_mms.values()]
