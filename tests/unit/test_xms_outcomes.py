import json
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from urllib3 import HTTPResponse

from sinch_gateway.domain.content import MmsSlidesContent, Slide, SmsContent, XmsMediaContent
from sinch_gateway.domain.outcomes import Accepted, AuthFailed, OutboundMessage, Refusal, Refused, Transient
from sinch_gateway.sinch.credentials import SinchCredentials
from sinch_gateway.sinch.mms_json import request_body
from sinch_gateway.sinch.xms import (
    as_dry_run,
    as_send_outcome,
    batch_body,
    classify,
    parse_retry_after,
)


def response(status: int, body: object = None, headers: dict[str, str] | None = None) -> HTTPResponse:
    data = json.dumps(body).encode() if body is not None else b""
    return HTTPResponse(body=data, status=status, headers=headers or {}, preload_content=True)


def test_201_with_a_batch_id_is_accepted() -> None:
    answered = classify(response(201, {"id": "01HZX3K9Q7B2M4N6P8R0S2T4V6"}))
    assert as_send_outcome(answered) == Accepted("01HZX3K9Q7B2M4N6P8R0S2T4V6")


def test_2xx_without_a_batch_id_is_an_ambiguous_transient() -> None:
    outcome = as_send_outcome(classify(response(201, {"nope": 1})))
    assert isinstance(outcome, Transient) and outcome.ambiguous


@pytest.mark.parametrize(
    ("status", "code", "refusal"),
    [
        (400, "syntax_invalid_parameter_format", Refusal.MESSAGE),
        (403, "missing_callback_url", Refusal.FORBIDDEN),
        (404, "not_found", Refusal.SETUP),
    ],
)
def test_client_errors_are_refusals_with_sinchs_code(status: int, code: str, refusal: Refusal) -> None:
    outcome = classify(response(status, {"code": code, "text": "why"}))
    assert outcome == Refused(status, code, "why", refusal)


def test_a_refusal_without_a_json_body_still_has_a_code() -> None:
    assert classify(response(400)) == Refused(400, "http_400", "", Refusal.MESSAGE)


def test_401_is_an_auth_failure() -> None:
    assert isinstance(classify(response(401, {"code": "unauthorized"})), AuthFailed)


def test_429_honours_retry_after() -> None:
    assert classify(response(429, {}, {"Retry-After": "3"})) == Transient(
        "rate_limited", 3.0, rate_limited=True
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    outcome = classify(response(status, {"code": "internal_error"}))
    assert isinstance(outcome, Transient) and not outcome.ambiguous


def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(when)
    assert seconds is not None and 25 <= seconds <= 31


def test_batch_bodies_carry_our_id_and_callback() -> None:
    sms = batch_body(
        OutboundMessage("m-1", "+12025550143", SmsContent(text="Hi"), webhook_url="https://x.test/cb"),
        "+12025550100",
    )
    assert sms == {
        "to": ["+12025550143"],
        "from": "+12025550100",
        "type": "mt_text",
        "body": "Hi",
        "delivery_report": "per_recipient_final",
        "callback_url": "https://x.test/cb",
        "client_reference": "m-1",
    }
    mms = batch_body(
        OutboundMessage(
            "m-2",
            "+12025550143",
            XmsMediaContent(media_url="https://cdn.test/a.jpg", subject="S"),
            webhook_url="https://x.test/cb",
        ),
        "+12025550100",
    )
    assert mms["type"] == "mt_media"
    assert mms["body"] == {"url": "https://cdn.test/a.jpg", "subject": "S"}


def test_a_scheduled_batch_carries_send_at_in_utc() -> None:
    when = datetime(2026, 12, 1, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    body = batch_body(
        OutboundMessage(
            "m", "+12025550143", SmsContent(text="Hi"), webhook_url="https://x.test/cb", send_at=when
        ),
        "+12025550100",
    )
    assert body["send_at"] == "2026-12-01T10:30:00.000Z"


def test_expire_at_goes_to_sinch_as_expire_at_in_utc_and_to_the_mms_json_api_as_its_expiry() -> None:
    when = datetime(2026, 12, 3, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    sms = OutboundMessage("m", "+12025550143", SmsContent(text="Hi"), expire_at=when)
    assert batch_body(sms, "+12025550100")["expire_at"] == "2026-12-03T10:30:00.000Z"
    credentials = SinchCredentials.model_validate(
        {"service_plan_id": "p", "api_token": "t", "from_number": "+12025550100", "mms_service_id": "s"}
    )
    slides = MmsSlidesContent(slides=(Slide(text="Hi"),), subject="S", fallback_text="Hi")
    mms = OutboundMessage("m", "+12025550143", slides, expire_at=when)
    assert request_body(mms, credentials)["mms-expiry-timestamp"] == "2026-12-03T10:30:00.000Z"


def test_a_dry_run_answer_is_read_per_recipient() -> None:
    answer = classify(
        response(
            200,
            {
                "number_of_recipients": 1,
                "number_of_messages": 2,
                "per_recipient": [
                    {"recipient": "12025550143", "body": "x", "number_of_parts": 2, "encoding": "UNICODE"}
                ],
            },
        )
    )
    dry = as_dry_run(answer)
    assert not isinstance(dry, (Transient, Refused, AuthFailed))
    assert dry.number_of_messages == 2
    assert [(r.number_of_parts, r.encoding) for r in dry.recipients] == [(2, "UNICODE")]


def test_the_host_follows_region_and_auth_style() -> None:
    from sinch_gateway.sinch.credentials import SinchCredentials

    plan = SinchCredentials.model_validate(
        {"service_plan_id": "plan", "api_token": "t", "region": "eu", "from_number": "+12025550100"}
    )
    project = SinchCredentials.model_validate(
        {
            "auth": "oauth",
            "project_id": "proj",
            "key_id": "k",
            "key_secret": "s",
            "region": "au",
            "from_number": "+12025550100",
        }
    )
    assert plan.xms_base_url == "https://eu.sms.api.sinch.com/xms/v1/plan"
    assert project.xms_base_url == "https://zt.au.sms.api.sinch.com/xms/v1/proj"


def test_a_secret_missing_what_its_auth_style_needs_is_refused() -> None:
    from pydantic import ValidationError

    from sinch_gateway.sinch.credentials import SinchCredentials

    with pytest.raises(ValidationError, match="key_id, key_secret"):
        SinchCredentials.model_validate({"auth": "oauth", "project_id": "p", "from_number": "+12025550100"})
