"""Sinch delivery reports: parse them, move each message's status forward, keep every one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from aws_lambda_powertools import Logger
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from sinch_gateway.data.messages import MessageRepository
from sinch_gateway.data.unmatched import UnmatchedReports
from sinch_gateway.domain.message import StatusEvent, utcnow
from sinch_gateway.domain.status import Status, Transition, from_sinch

logger = Logger(child=True)


class _Report(BaseModel):
    # Sinch adds fields over time; a webhook that refused them would drop reports.
    model_config = ConfigDict(extra="ignore")


def _utc_if_naive(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# Sinch's times are UTC; one without a zone is read as UTC, never stored as a local time.
SinchTime = Annotated[datetime, AfterValidator(_utc_if_naive)]
# Sinch's codes are small numbers (sinch-api.md §4.2). The bound keeps a code a number DynamoDB
# can store (at most 38 digits): 10**100 would fail the write.
SinchCode = Annotated[int, Field(ge=-(2**31), lt=2**31)]


class RecipientDeliveryReport(_Report):
    type: Literal["recipient_delivery_report_sms", "recipient_delivery_report_mms"]
    batch_id: str
    recipient: str
    code: SinchCode
    status: str
    at: SinchTime
    operator_status_at: SinchTime | None = None
    client_reference: str | None = None


class StatusCount(_Report):
    code: SinchCode
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


def apply_report(
    repository: MessageRepository,
    unmatched: UnmatchedReports,
    report: RecipientDeliveryReport | BatchDeliveryReport,
    raw: str,
) -> str:
    """Apply one report; returns what happened (for logs and metrics).

    Every report is kept: as an event on its message (marked stale when it did not move the
    status), or, when no message takes it, as an unmatched report. Duplicate, late and unknown
    reports are normal in Sinch's world: none of them raises.
    """
    status, code = _status_and_code(report)
    log = {"batch_id": report.batch_id, "message_id": report.client_reference, "report_type": report.type}
    if status is None:
        logger.warning("report with a status we do not know", extra=log)
        unmatched.keep(report.batch_id, raw, "unknown_status")
        return "unknown_status"
    if not report.client_reference:
        logger.warning("report without our client_reference", extra=log)
        unmatched.keep(report.batch_id, raw, "unknown_message")
        return "unknown_message"
    if isinstance(report, RecipientDeliveryReport):
        at, operator_at = report.at, report.operator_status_at
    else:
        at, operator_at = utcnow(), None  # a batch report carries no time of its own
    event = StatusEvent(status=status, at=at, code=code, operator_at=operator_at)
    result = repository.advance(report.client_reference, event)
    if result is Transition.STALE:
        # The status write is conditional, so it cannot also append when its condition fails
        # (DynamoDB has no per-clause condition): a second write keeps the report as an event.
        if not repository.append_event(report.client_reference, event.model_copy(update={"stale": True})):
            logger.warning("stale report not kept: the message is gone or has too many events", extra=log)
    elif result is Transition.MISSING:
        logger.warning("report for a message we do not have", extra=log)
        unmatched.keep(report.batch_id, raw, "unknown_message")
        return "unknown_message"
    logger.info("delivery report applied", extra={**log, "status": status, "result": result.value})
    return str(result.value)
