"""Sinch's XMS delivery reports (batch and per-recipient) as they arrive, read into StatusReports.

Shapes, statuses and codes: https://developers.sinch.com/docs/sms/api-reference/sms/tag/Delivery-reports/
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.reports import MalformedReport, StatusReport
from sinch_gateway.domain.status import Status, from_sinch


class _Report(BaseModel):
    # Sinch adds fields over time; a webhook that refused them would drop reports.
    model_config = ConfigDict(extra="ignore")


def _utc_if_naive(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# Sinch's times are UTC; one without a zone is read as UTC, never stored as a local time.
SinchTime = Annotated[datetime, AfterValidator(_utc_if_naive)]
# Sinch's codes are small numbers (0 delivered, 400-418 its own, SMPP codes below 400). The bound
# keeps a code a number DynamoDB can store (at most 38 digits): 10**100 would fail the write.
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


def parse_delivery_report(raw: str) -> StatusReport:
    """One XMS delivery report; MalformedReport when it is not one."""
    return _status_report(raw, delivery_report_adapter.validate_json)


def read_delivery_report(data: Any) -> StatusReport:
    """A report Sinch answered as JSON (a lookup); MalformedReport when it is not one."""
    return _status_report(data, delivery_report_adapter.validate_python)


def _status_report(
    data: Any, validate: Callable[[Any], RecipientDeliveryReport | BatchDeliveryReport]
) -> StatusReport:
    try:
        report = validate(data)
    except ValidationError as exc:
        raise MalformedReport(
            [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        ) from None
    status, code = _status_and_code(report)
    if isinstance(report, RecipientDeliveryReport):
        at, operator_at, recipient = report.at, report.operator_status_at, report.recipient
    else:
        at, operator_at, recipient = utcnow(), None, None  # a batch report carries no time of its own
    return StatusReport(
        kind=report.type,
        sinch_id=report.batch_id,
        reference=report.client_reference,
        status=status,
        code=code,
        at=at,
        operator_at=operator_at,
        recipient=recipient,
    )
