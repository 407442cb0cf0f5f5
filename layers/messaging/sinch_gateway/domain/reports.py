"""A report from Sinch on one of our messages, whichever API sent it (an XMS delivery report, an
MMS JSON API postback): what the report intake applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.status import Status


@dataclass(frozen=True)
class StatusReport:
    kind: str  # Sinch's name for it (recipient_delivery_report_sms, N102...), for logs
    sinch_id: str  # the batch or tracking id: what an unmatched report is filed under
    reference: str | None  # our message id, Sinch's client reference
    status: Status | None  # None: a status we do not know
    code: int | str
    at: datetime
    operator_at: datetime | None = None
    delivered_as: Channel | None = None  # Sinch delivered it as this (an MMS's fallback SMS)
    recipient: str | None = None  # whom an XMS per-recipient report is on, as Sinch wrote the number


class MalformedReport(ValueError):
    """Not a report we understand. `errors`: (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors
