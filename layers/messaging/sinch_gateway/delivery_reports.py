"""Sinch delivery reports: parse them and move each message's status forward."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from sinch_gateway.repository import MessageRepository, Transition
from sinch_gateway.status import Status, from_sinch

logger = Logger(child=True)


class _Report(BaseModel):
    # Sinch adds fields over time; a webhook that refused them would drop reports.
    model_config = ConfigDict(extra="ignore")


class RecipientDeliveryReport(_Report):
    type: Literal["recipient_delivery_report_sms", "recipient_delivery_report_mms"]
    batch_id: str
    recipient: str
    code: int
    status: str
    at: datetime
    operator_status_at: datetime | None = None
    client_reference: str | None = None


class StatusCount(_Report):
    code: int
    status: str
    count: int
    recipients: list[str] | None = None


class BatchDeliveryReport(_Report):
    type: Literal["delivery_report_sms", "delivery_report_mms"]
    batch_id: str
    total_message_count: int
    statuses: list[StatusCount]
    client_reference: str | None = None


DeliveryReport = Annotated[RecipientDeliveryReport | BatchDeliveryReport, Field(discriminator="type")]
delivery_report_adapter: TypeAdapter[RecipientDeliveryReport | BatchDeliveryReport] = TypeAdapter(
    DeliveryReport
)


def _status_and_code(report: RecipientDeliveryReport | BatchDeliveryReport) -> tuple[Status | None, int]:
    if isinstance(report, RecipientDeliveryReport):
        return from_sinch(report.status), report.code
    # Our batches have one recipient, so the furthest status in the batch is the message's.
    known = [(s, c.code) for c in report.statuses if (s := from_sinch(c.status)) is not None]
    if not known:
        return None, 0
    return max(known, key=lambda pair: pair[0].rank)


def apply_report(repository: MessageRepository, report: RecipientDeliveryReport | BatchDeliveryReport) -> str:
    """Apply one report; returns what happened (for logs and metrics). Never raises for a
    duplicate, late or unknown report: those are normal in Sinch's world."""
    status, code = _status_and_code(report)
    log = {"batch_id": report.batch_id, "message_id": report.client_reference, "report_type": report.type}
    if status is None:
        logger.warning("report with a status we do not know", extra=log)
        return "unknown_status"
    if not report.client_reference:
        logger.warning("report without our client_reference", extra=log)
        return "unknown_message"
    at = report.at if isinstance(report, RecipientDeliveryReport) else None
    result = repository.transition(report.client_reference, status, code=code, at=at)
    logger.info("delivery report applied", extra={**log, "status": status, "result": result.value})
    return "unknown_message" if result is Transition.MISSING else result.value
