"""Each class of client mistake, end to end over HTTP: a clear problem, and nothing sent to Sinch."""

import json
from typing import Any

import pytest

from tests.e2e.conftest import Answer, LocalStack

SMS = {"to": "+12025550143", "text": "Hello"}


def assert_problem(answer: Answer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.body
    assert body["status"] == status and body["title"]
    assert "Traceback" not in json.dumps(body)
    return body


@pytest.mark.parametrize(
    ("method", "path", "body", "raw", "headers", "status"),
    [
        ("PUT", "/v1/messages", SMS, None, {}, 405),
        ("POST", "/v1/messages/abc", SMS, None, {}, 405),
        ("GET", "/v2/anything", None, None, {}, 404),
        ("POST", "/v1/messages", None, json.dumps({**SMS, "text": "x" * 70_000}).encode(), {}, 413),
        (
            "POST",
            "/v1/messages",
            None,
            b"to=%2B12025550143",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
        ),
        ("POST", "/v1/messages", None, b'{"to": ', {}, 400),
        ("POST", "/v1/messages", {**SMS, "colour": "red"}, None, {}, 422),
        (
            "POST",
            "/v1/messages",
            {"to": "+442079460123", "mediaUrl": "http://127.0.0.1:1/a.jpg"},
            None,
            {},
            422,
        ),
        ("POST", "/v1/messages", SMS, None, {"Idempotency-Key": "k" * 300}, 422),
        ("GET", "/v1/messages?to=%2B1202555abcd", None, None, {}, 422),
    ],
    ids=[
        "put-405",
        "post-on-id-405",
        "unknown-404",
        "too-large-413",
        "form-415",
        "bad-json-400",
        "unknown-field-422",
        "mms-country-422",
        "long-key-422",
        "list-of-a-malformed-number-422",
    ],
)
def test_a_mistake_is_a_problem_and_nothing_reaches_sinch(
    local: LocalStack,
    method: str,
    path: str,
    body: object,
    raw: bytes | None,
    headers: dict[str, str],
    status: int,
) -> None:
    answer = local.api(method, path, body, raw=raw, headers=headers)

    problem = assert_problem(answer, status)
    if status == 405:
        assert answer.headers["allow"]
    assert local.sinch_requests() == []
    assert problem["type"] != "about:blank" or status == 404


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        ("too-large.jpg", "limit"),
        ("no-length.jpg", "Content-Length"),
        ("wrong-type.jpg", "Content-Type"),
        ("missing.jpg", "HTTP 404"),
    ],
)
def test_media_that_sinch_would_refuse_is_a_422_naming_the_check(
    local: LocalStack, media: str, reason: str
) -> None:
    answer = local.api(
        "POST", "/v1/messages", {"to": "+12025550143", "mediaUrl": f"{local.sinch_url}/_sim/media/{media}"}
    )

    problem = assert_problem(answer, 422)
    (error,) = problem["errors"]
    assert error["field"] == "mediaUrl" and reason in error["message"]
    assert local.sinch_requests() == []


def test_media_on_a_private_address_is_refused_without_being_fetched(local: LocalStack) -> None:
    answer = local.api(
        "POST", "/v1/messages", {"to": "+12025550143", "mediaUrl": "http://169.254.169.254/latest/a.jpg"}
    )

    problem = assert_problem(answer, 422)
    assert "forbidden address" in problem["errors"][0]["message"]


def test_a_retried_request_with_its_idempotency_key_is_answered_again_and_sent_once(
    local: LocalStack,
) -> None:
    first = local.api("POST", "/v1/messages", SMS, headers={"Idempotency-Key": "e2e-once"})
    again = local.api("POST", "/v1/messages", SMS, headers={"Idempotency-Key": "e2e-once"})
    other = local.api(
        "POST", "/v1/messages", {**SMS, "text": "changed"}, headers={"Idempotency-Key": "e2e-once"}
    )

    assert first.status == again.status == 202
    assert again.body == first.body
    assert_problem(other, 409)
    assert len(local.sinch_requests()) == 1


def test_a_dry_run_sends_nothing(local: LocalStack) -> None:
    answer = local.api("POST", "/v1/messages", {**SMS, "text": "€" * 100}, headers={"X-Dry-Run": "true"})

    assert answer.status == 200
    assert answer.body["recipients"][0]["segments"] == 2
    assert [r["path"].rsplit("/", 1)[1] for r in local.sinch_requests()] == ["dry_run"]


def test_a_scheduled_message_is_cancelled_at_sinch(local: LocalStack) -> None:
    from datetime import UTC, datetime, timedelta

    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    sent = local.api("POST", "/v1/messages", {**SMS, "sendAt": send_at}).body

    answer = local.api("DELETE", f"/v1/messages/{sent['id']}")

    assert (answer.status, answer.body["status"]) == (200, "cancelled")
    assert [r["method"] for r in local.sinch_requests()] == ["POST", "DELETE"]


def test_the_openapi_document_and_docs_open_in_a_browser_without_a_key(local: LocalStack) -> None:
    """Swagger UI and its document need no key; the document tells its Authorize which header."""
    document = local.api("GET", "/v1/openapi.json", key=None)
    docs = local.api("GET", "/v1/docs", key=None)

    assert document.status == 200
    assert set(document.body["paths"]) >= {"/v1/messages", "/v1/messages/{id}"}
    assert document.body["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    assert docs.status == 200 and "swagger" in str(docs.body).lower()
    assert local.api("GET", "/v1/messages?clientReference=x", key=None).status == 403, (
        "the API still needs one"
    )


def test_a_method_api_gateway_cannot_route_gets_its_own_403(local: LocalStack) -> None:
    answer = local.api("TRACE", "/health")

    assert (answer.status, answer.headers["content-type"]) == (403, "application/problem+json")
    assert answer.body["type"] == "/problems/no-such-route" and "x-api-key" in answer.body["detail"]


def test_swagger_ui_is_served_with_the_composers_frame_and_content_headers(local: LocalStack) -> None:
    docs, composer = local.api("GET", "/v1/docs", key=None), local.api("GET", "/", key=None)

    assert docs.status == 200 and docs.headers["content-type"] == "text/html; charset=utf-8"
    for name in (
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "cross-origin-opener-policy",
    ):
        assert docs.headers[name] == composer.headers[name], name
    policy = dict(d.strip().split(" ", 1) for d in docs.headers["content-security-policy"].split(";"))
    page_policy = dict(
        d.strip().split(" ", 1) for d in composer.headers["content-security-policy"].split(";")
    )
    for directive in ("default-src", "connect-src", "base-uri", "form-action", "frame-ancestors"):
        assert policy[directive] == page_policy[directive], directive
    assert policy["frame-ancestors"] == "'none'" and docs.headers["x-frame-options"] == "DENY"
    # Inline scripts and styles run only as the exact ones the policy names: nothing from a CDN,
    # nothing injected.
    assert all(source.startswith("'sha256-") for source in policy["script-src"].split())
    assert all(source.startswith("'sha256-") for source in policy["style-src"].split())
