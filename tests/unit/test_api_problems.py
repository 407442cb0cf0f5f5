import base64
import json

import pytest

from sinch_gateway.api_problems import MAX_BODY_BYTES, reject_unreadable_body
from sinch_gateway.errors import SinchForbidden, SinchMisconfigured, SinchRejected, sinch_refusal
from sinch_gateway.listing import decode_token, encode_token


def event(
    body: str | None,
    content_type: str | None = "application/json",
    *,
    base64_body: bool = False,
    method: str = "POST",
) -> dict[str, object]:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return {"httpMethod": method, "headers": headers, "body": body, "isBase64Encoded": base64_body}


def test_a_readable_json_body_passes() -> None:
    assert reject_unreadable_body(event('{"to": "+12025550143"}', "application/json; charset=UTF-8")) is None


def test_a_body_just_over_the_limit_is_413_before_its_type_is_looked_at() -> None:
    answer = reject_unreadable_body(event("x" * (MAX_BODY_BYTES + 1), "text/plain"))
    assert answer is not None and answer.status == 413


def test_a_base64_body_is_measured_decoded() -> None:
    raw = base64.b64encode(b"x" * MAX_BODY_BYTES).decode()
    assert reject_unreadable_body(event(raw, base64_body=True)) is None


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_anything_but_json_is_415(content_type: str | None) -> None:
    answer = reject_unreadable_body(event("{}", content_type))
    assert answer is not None and answer.status == 415
    assert json.loads(answer.body)["type"] == "/problems/unsupported-media-type"


def test_reads_and_deletes_are_not_checked() -> None:
    assert reject_unreadable_body(event(None, None, method="GET")) is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, SinchRejected), (403, SinchForbidden), (404, SinchMisconfigured), (415, SinchMisconfigured)],
)
def test_sinch_refusals_map_to_our_problems(status: int, kind: type) -> None:
    error = sinch_refusal(status, "some_code", "why")
    assert isinstance(error, kind)
    assert error.extra["sinchCode"] == "some_code"


def test_a_next_token_round_trips_and_is_bound_to_its_listing() -> None:
    key = {"id": {"S": "m-1"}, "tenantRef": {"S": "t1#order-7"}, "createdAt": {"S": "2026-11-23T19:00:00"}}
    token = encode_token(key)
    assert decode_token(token, "t1#order-7") == key
    for other_listing in ("t1#order-8", "t2#order-7"):
        with pytest.raises(Exception, match="nextToken"):
            decode_token(token, other_listing)


def test_a_body_that_is_not_utf8_is_a_400_not_a_crash() -> None:
    answer = reject_unreadable_body(event(base64.b64encode(b"\xd0_\x9fA\x89").decode(), base64_body=True))
    assert answer is not None and answer.status == 400
    assert json.loads(answer.body)["type"] == "/problems/invalid-json"
