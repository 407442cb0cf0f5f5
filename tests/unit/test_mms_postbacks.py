"""MMS JSON API postbacks, read into reports; and the media kinds a slide may combine."""

import json

import pytest

from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.mms_media import combination_problem, kind_of
from sinch_gateway.domain.reports import MalformedReport, StatusReport
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.templates import TemplateReport
from sinch_gateway.sinch.mms_postbacks import parse_postback
from sinch_gateway.sinch.xms import MAX_ERROR_TEXT_CHARS

REF = "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"


def postback(code: str, **extra: str) -> str:
    return json.dumps(
        {
            "origin": "MMS_MT",
            "code": code,
            "tracking-id": "trk-1",
            "client-reference": REF,
            "timestamp": "2026-11-27T10:00:00Z",
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("N101", Status.DISPATCHED),
        ("N102", Status.DELIVERED),
        ("N103", Status.EXPIRED),
        ("E101", Status.FAILED),
        ("E102", Status.REJECTED),
        ("E202", Status.FAILED),
        ("E011", Status.FAILED),
        ("E012", Status.FAILED),
        ("E013", Status.FAILED),
    ],
)
def test_each_message_code_is_its_status(code: str, status: Status) -> None:
    report = parse_postback(postback(code))
    assert isinstance(report, StatusReport)
    assert (report.status, report.code, report.reference, report.sinch_id) == (status, code, REF, "trk-1")
    assert report.delivered_as is None


def test_a_fallback_delivery_says_it_went_as_sms() -> None:
    for raw in (postback("N202"), postback("N102", **{"sent-as": "SMS"})):
        report = parse_postback(raw)
        assert isinstance(report, StatusReport)
        assert (report.status, report.delivered_as) == (Status.DELIVERED, Channel.SMS)


@pytest.mark.parametrize(
    ("code", "ready"), [("N003", True), ("E002", False), ("E003", False), ("E004", False)]
)
def test_template_codes_are_template_reports(code: str, ready: bool) -> None:
    report = parse_postback(postback(code, **{"mms-id": "777"}))
    assert isinstance(report, TemplateReport)
    assert (report.ready, report.template_id, report.mms_id) == (ready, REF, "777")


def test_a_template_failures_text_is_kept_as_long_as_sinchs_error_texts() -> None:
    # 120,000 four-byte characters: kept whole, the template's item passed DynamoDB's 400 KB (a 500).
    report = parse_postback(postback("E002", **{"status-details": "\U0001f600" * 120_000}))
    assert isinstance(report, TemplateReport)
    assert report.detail == "\U0001f600" * MAX_ERROR_TEXT_CHARS
    for extra, detail in (({"status": "Failed"}, "Failed"), ({}, None)):
        other = parse_postback(postback("E003", **extra))
        assert isinstance(other, TemplateReport) and other.detail == detail


def test_an_unknown_code_is_a_report_with_no_status() -> None:
    report = parse_postback(postback("N401"))
    assert isinstance(report, StatusReport) and report.status is None


@pytest.mark.parametrize("raw", ["", "[]", "{}", '{"code": 5}', '{"code": ""}', "not json"])
def test_anything_else_is_malformed(raw: str) -> None:
    with pytest.raises(MalformedReport):
        parse_postback(raw)


def test_kinds_and_which_may_share_a_slide() -> None:
    assert kind_of("image/JPEG; q=1") == "image" and kind_of("text/plain") is None
    assert combination_problem(["image", "audio"]) is None
    assert combination_problem(["contact", "calendar", "pdf"]) is None
    assert "a video and an image" in (combination_problem(["video", "image"]) or "")
    assert "two image" in (combination_problem(["image", "image"]) or "")
