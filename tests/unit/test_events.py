"""The sample events in events/: each one documented, each Sinch callback one the gateway reads."""

import json
import pathlib

import pytest

from sinch_gateway.domain.reports import StatusReport
from sinch_gateway.domain.templates import TemplateReport
from sinch_gateway.sinch.mms_postbacks import MESSAGE_CODES, TEMPLATE_CODES, parse_postback
from sinch_gateway.sinch.xms_reports import parse_delivery_report

EVENTS = pathlib.Path(__file__).resolve().parents[2] / "events"
README = (EVENTS / "README.md").read_text()


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_every_event_is_json_and_documented(path: pathlib.Path) -> None:
    json.loads(path.read_text())
    named = path.name if not path.name.startswith("sinch-mms-postback-") else "sinch-mms-postback-<code>.json"
    assert f"`{named}`" in README


def test_there_is_a_sample_postback_for_every_code_we_read() -> None:
    samples = {p.stem.removeprefix("sinch-mms-postback-") for p in EVENTS.glob("sinch-mms-postback-*.json")}
    assert samples == set(MESSAGE_CODES) | set(TEMPLATE_CODES)


@pytest.mark.parametrize("path", sorted(EVENTS.glob("sinch-mms-postback-*.json")), ids=lambda p: p.stem)
def test_each_sample_postback_is_read_as_its_code_says(path: pathlib.Path) -> None:
    code = path.stem.removeprefix("sinch-mms-postback-")
    report = parse_postback(path.read_text())
    if code in TEMPLATE_CODES:
        assert isinstance(report, TemplateReport) and report.ready is TEMPLATE_CODES[code]
    else:
        assert isinstance(report, StatusReport) and report.status is MESSAGE_CODES[code]


@pytest.mark.parametrize("path", sorted(EVENTS.glob("sinch-*delivery-report*.json")), ids=lambda p: p.stem)
def test_each_sample_delivery_report_is_read(path: pathlib.Path) -> None:
    assert parse_delivery_report(path.read_text()).status is not None
