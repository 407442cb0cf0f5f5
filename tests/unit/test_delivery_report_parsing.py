"""What the webhook accepts as a delivery report: nothing it accepts may fail to be stored."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sinch_gateway.sinch.xms_reports import (
    BatchDeliveryReport,
    RecipientDeliveryReport,
    delivery_report_adapter,
)


def recipient_report(**changes: Any) -> str:
    return json.dumps(
        {
            "type": "recipient_delivery_report_sms",
            "batch_id": "01JD8Y5K3M2N4P6Q8R0S2T4V6W",
            "recipient": "+12025550143",
            "code": 0,
            "status": "Delivered",
            "at": "2026-11-23T19:00:03.120Z",
            **changes,
        }
    )


@pytest.mark.parametrize("code", [10**100, 10**40 + 1, 2**31, -(2**31) - 1])
def test_a_code_no_sinch_report_has_is_malformed_not_a_failed_write(code: int) -> None:
    with pytest.raises(ValidationError) as info:
        delivery_report_adapter.validate_json(recipient_report(code=code))
    assert [e["loc"][-1] for e in info.value.errors()] == ["code"]
    batch = {"type": "delivery_report_sms", "batch_id": "b", "total_message_count": 1}
    with pytest.raises(ValidationError):
        delivery_report_adapter.validate_json(
            json.dumps({**batch, "statuses": [{"code": code, "status": "Delivered", "count": 1}]})
        )


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_every_code_it_accepts_fits_a_dynamodb_number(code: int) -> None:
    report = delivery_report_adapter.validate_json(recipient_report(code=code))
    assert isinstance(report, RecipientDeliveryReport) and len(str(abs(report.code))) <= 38


def test_a_time_without_a_zone_is_read_as_utc() -> None:
    report = delivery_report_adapter.validate_json(
        recipient_report(at="2026-11-23T19:00:03", operator_status_at="2026-11-23T19:00:02")
    )
    assert isinstance(report, RecipientDeliveryReport)
    assert report.at == datetime(2026, 11, 23, 19, 0, 3, tzinfo=UTC)
    assert report.operator_status_at == datetime(2026, 11, 23, 19, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_times_at_the_edge_of_the_calendar_are_kept_as_written(at: str) -> None:
    report = delivery_report_adapter.validate_json(recipient_report(at=at))
    assert isinstance(report, RecipientDeliveryReport)
    assert report.at.utcoffset() in (timedelta(hours=-1), timedelta(hours=1))
    json.dumps(report.model_dump(mode="json"))  # stored as JSON: no overflow on the way


@pytest.mark.parametrize(
    "body",
    [
        recipient_report(client_reference="\ud800"),  # json.dumps writes the escape "\\ud800"
        "[" * 100_000,
        '{"type": "delivery_report_sms"}',
        recipient_report(at="not a time"),
    ],
)
def test_what_cannot_be_a_report_is_a_validation_error(body: str) -> None:
    with pytest.raises(ValidationError):
        delivery_report_adapter.validate_json(body)


def test_a_batch_report_with_a_huge_recipient_list_is_read() -> None:
    body = {
        "type": "delivery_report_sms",
        "batch_id": "b",
        "total_message_count": 1,
        "statuses": [{"code": 0, "status": "Delivered", "count": 1, "recipients": ["x"] * 200_000}],
    }
    assert isinstance(delivery_report_adapter.validate_json(json.dumps(body)), BatchDeliveryReport)
