import base64
import json
import sys

import pytest

from sinch_gateway.api.listing import decode_token, encode_token
from sinch_gateway.api.problems import (
    MAX_BODY_BYTES,
    json_body,
    reject_undecodable_body,
    reject_unreadable_body,
)


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


def test_a_next_token_round_trips_and_is_bound_to_its_listing() -> None:
    key = {
        "id": {"S": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"},
        "tenantRef": {"S": "t1#order-7"},
        "createdAt": {"S": "2026-11-23T19:00:00"},
    }
    token = encode_token(key)
    assert decode_token(token, "t1#order-7") == key
    for other_listing in ("t1#order-8", "t2#order-7"):
        with pytest.raises(Exception, match="nextToken"):
            decode_token(token, other_listing)


def test_a_body_that_is_not_utf8_is_a_400_not_a_crash() -> None:
    answer = reject_unreadable_body(event(base64.b64encode(b"\xd0_\x9fA\x89").decode(), base64_body=True))
    assert answer is not None and answer.status == 400
    assert json.loads(answer.body)["type"] == "/problems/invalid-json"


@pytest.mark.parametrize(
    "body",
    [
        '{"text": "a\ud800"}',  # a lone surrogate in the event's string: no UTF-8 stands for it
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_body_that_is_not_text_is_a_400_from_either_check(body: str) -> None:
    is_base64 = not body.startswith("{")
    for answer in (
        reject_unreadable_body(event(body, base64_body=is_base64)),
        reject_undecodable_body(event(body, base64_body=is_base64)),
    ):
        assert answer is not None and answer.status == 400
        assert json.loads(answer.body)["detail"] == "The body is not UTF-8 text."


def test_a_readable_body_passes_the_undecodable_check() -> None:
    assert reject_undecodable_body(event('{"a": "\\ud800"}')) is None  # an escape is text; JSON judges it
    assert reject_undecodable_body(event(None)) is None


@pytest.mark.parametrize("depth", [1_000, 30_000])
def test_json_nested_past_the_recursion_limit_is_invalid_json_not_a_crash(depth: int) -> None:
    with pytest.raises(json.JSONDecodeError):
        json_body("[" * depth + "]" * depth)
    assert json_body('{"a": [1]}') == {"a": [1]}


def test_an_integer_longer_than_python_converts_is_invalid_json_not_a_crash() -> None:
    digits = sys.get_int_max_str_digits()
    with pytest.raises(json.JSONDecodeError, match=f"more than {digits} digits"):
        json_body('{"a": [-' + "7" * (digits + 1) + "]}")
    assert json_body('{"a": ' + "7" * digits + "}") == {"a": int("7" * digits)}


def test_the_content_type_is_read_as_the_resolver_reads_it() -> None:
    # The resolver takes only a lower-case application/json as JSON; anything else was a 500 there.
    upper = reject_unreadable_body(event("{}", "APPLICATION/JSON"))
    assert upper is not None and upper.status == 415
    # Of two spellings of the header, the last counts, as in the resolver.
    both = event("{}")
    both["headers"] = {"Content-Type": "application/json", "content-type": "text/plain"}
    answer = reject_unreadable_body(both)
    assert answer is not None and answer.status == 415
    both["headers"] = {"content-type": "text/plain", "Content-Type": "application/json"}
    assert reject_unreadable_body(both) is None
