"""Hostile input at the handlers, against moto and the simulator: arbitrary headers, query values,
path ids and bodies on every route, arbitrary queued bodies, and arbitrary answers from Sinch.

Whatever comes in, the answer is below 500 (an error is problem+json), nothing is sent to Sinch
for a refused request, and a queued body is never a batch item failure that retries for ever.
"""

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sinch_gateway.data import aws
from sinch_gateway.data.queue_text import sqs_text
from sinch_gateway.data.templates import TemplateRepository
from sinch_gateway.domain.templates import MmsTemplate
from sinch_gateway.domain.webhook_auth import signature
from tests.integration.conftest import PROJECT, ROOT, WEBHOOK_SECRET, Env, forget_cached_secrets
from tests.strategies import json_values

# Modest counts: each example is a few handler calls against moto.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID_TO = "+12025550143"
SIM_MEDIA = "<the simulator's sample image>"  # replaced by its URL: media checks never leave 127.0.0.1
REPORT_PATH = "/v1/webhooks/sinch/delivery-reports"

JSON = json_values(max_leaves=12)
ODD_TEXT = st.sampled_from(
    ["", " ", "\u200b", "\u3000\ufeff", "a\ud800", "\udfff", "x" * 5001, "\x00", "\u00e9", "1e400", "NaN"]
)
TEXTISH = ODD_TEXT | st.text(max_size=30)
HEADER_VALUE = TEXTISH | st.sampled_from(["true", "false", "1", "yes", "TRUE", "k-1", "x" * 300])


def problem_or_success(answer: dict[str, Any], *, sinch_down_ok: bool = False) -> tuple[int, Any]:
    """The status and JSON body of a proxy answer, checked: below 500 (or, where Sinch answered
    badly and `sinch_down_ok`, our documented 502 or 503), and an error is a problem."""
    status: int = answer["statusCode"]
    assert status < 500 or (sinch_down_ok and status in (502, 503)), answer
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    headers.update({k.lower(): v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()})
    body: Any = json.loads(answer["body"]) if answer.get("body") else None
    if status >= 400:
        assert headers["content-type"] == "application/problem+json", answer
        assert body["status"] == status
        assert status < 500 or body["type"].startswith("/problems/sinch-"), body
    return status, body


def proxy_event(
    method: str,
    path: str,
    *,
    headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    query: list[tuple[str, str]] = (),  # type: ignore[assignment]
    body: str | None = None,
    resource: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A REST proxy event as API Gateway builds one: a repeated header or query name keeps its
    last value in the single-value maps and every value in the multi-value ones. A base64 body
    stands for the body's UTF-8 bytes (lone surrogates as the invalid bytes they would be)."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "api-send-sms.json").read_text())
    single_h: dict[str, str] = {}
    multi_h: dict[str, list[str]] = {}
    for name, value in headers:
        single_h[name] = value
        multi_h.setdefault(name, []).append(value)
    single_q: dict[str, str] = {}
    multi_q: dict[str, list[str]] = {}
    for name, value in query:
        single_q[name] = value
        multi_q.setdefault(name, []).append(value)
    event.update(
        httpMethod=method,
        path=path,
        resource=resource or path,
        headers=single_h or None,
        multiValueHeaders=multi_h or None,
        queryStringParameters=single_q or None,
        multiValueQueryStringParameters=multi_q or None,
        body=base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        if base64_body and body
        else body,
        isBase64Encoded=base64_body,
    )
    return event


# --- POST /v1/messages ---------------------------------------------------------------------------

CONTENT_TYPE = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", ""]
) | st.text(max_size=30)
SEND_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["Idempotency-Key", "idempotency-key", "X-Dry-Run", "x-dry-run", "Content-Type"])
        | st.text(min_size=1, max_size=20),
        HEADER_VALUE,
    ),
    max_size=5,
)
TO = (
    st.sampled_from(
        [
            VALID_TO,
            "+1202555abcd",
            "+1-800-FLOWERS",
            "+44 (0)20 7946 0958",
            "+\u0661\u0662\u0660\u0662\u0665\u0665\u0665\u0660\u0661\u0664\u0663",
            "tel:+12025550143",
            "+12025550143;ext=1",
            "++12025550143",
        ]
    )
    | TEXTISH
    | JSON
)
SEND_FIELDS = st.fixed_dictionaries(
    {"to": TO},
    optional={
        "text": TEXTISH | JSON,
        "subject": TEXTISH | JSON,
        "clientReference": TEXTISH | JSON,
        "sendAt": TEXTISH | JSON | st.just((datetime.now(UTC) + timedelta(hours=1)).isoformat()),
        "mediaUrl": st.sampled_from([SIM_MEDIA, "not a url", "ftp://x", "http://127.0.0.1:9/a.jpg"]) | JSON,
        "idempotencyKey": TEXTISH,
    },
)
SEND_BODY = (
    SEND_FIELDS.map(json.dumps)
    | JSON.map(json.dumps)
    | st.text(max_size=40)
    | st.sampled_from(["[" * 5000, "{" * 3000, "", "null", '{"to": "\\ud800"}'])
    | st.none()
)


@FUZZ
@given(
    st.sampled_from(["application/json"]) | CONTENT_TYPE,
    SEND_HEADERS,
    SEND_BODY,
    st.lists(st.tuples(TEXTISH, TEXTISH), max_size=2),
    st.booleans(),
)
@example("application/json", [], "[" * 5000, [], False)  # json.loads' RecursionError was a 500
@example("application/json", [], '{"text": "\ud800"}', [], True)  # a base64 body that is not UTF-8: a 400
@example("APPLICATION/JSON", [], "{}", [], False)  # past our check, a 500 in the resolver
def test_any_send_request_is_answered_below_500_and_a_refused_one_sends_nothing(
    env: Env,
    content_type: str,
    headers: list[tuple[str, str]],
    body: str | None,
    query: list[tuple[str, str]],
    base64_body: bool,
) -> None:
    body = body.replace(SIM_MEDIA, f"{env.sim.url}/_sim/media/sample.jpg") if body else body
    sent_before = len(env.batch_requests())
    headers = [("Content-Type", content_type), *headers]
    event = proxy_event(
        "POST", "/v1/messages", headers=headers, body=body, query=query, base64_body=base64_body
    )
    answer = env.handler("SendFunction")(event)
    status, problem = problem_or_success(answer)
    if status >= 400 and not problem["type"].startswith("/problems/sinch-"):
        assert len(env.batch_requests()) == sent_before, problem


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"to": "+1202555abcd", "text": "Hi"}, "to", "must not contain letters"),  # was sent to +12025552223
        ({"to": "+44 (0)20 7946 0958", "text": "Hi"}, "to", "national prefix"),
        ({"to": "+12025550143 x12", "text": "Hi"}, "to", "must not contain letters"),
        ({"to": VALID_TO, "text": " \u200b\u3000 "}, "text", "must contain something visible"),  # was sent
        ({"to": VALID_TO, "text": "Hi", "clientReference": "\ud800"}, "clientReference", "lone surrogate"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_refused_recipient_or_text_is_a_422_and_nothing_reaches_sinch(
    env: Env, body: dict[str, str], field: str, message: str, dry_run: bool
) -> None:
    headers = [("Content-Type", "application/json"), *([("X-Dry-Run", "true")] if dry_run else [])]
    event = proxy_event("POST", "/v1/messages", headers=headers, body=json.dumps(body))
    status, problem = problem_or_success(env.handler("SendFunction")(event))
    assert status == 422
    assert [e["field"] for e in problem["errors"]] == [field]
    assert message in problem["errors"][0]["message"]
    assert env.sim_call("GET", "/_sim/requests") == []


# --- GET /v1/messages ----------------------------------------------------------------------------

LIST_QUERY = st.lists(
    st.tuples(
        st.sampled_from(["clientReference", "limit", "nextToken", "status", "to", "since", "until"])
        | st.text(max_size=10),
        TEXTISH
        | st.sampled_from(["20", "0", "101", "1e2", "\u0663", "9" * 30, "eyJpZCI6MX0=", "+12025550143"])
        | st.sampled_from(["delivered", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
        | st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
    ),
    max_size=5,
)


@FUZZ
@given(LIST_QUERY)
@example(
    [("clientReference", "x"), ("nextToken", "eyJjbGllbnRSZWZlcmVuY2UiOiAieCJ9")]
)  # {"clientReference": "x"}
# The calendar's edges: past them in UTC, or one microsecond before the first.
@example([("since", "9999-12-31T23:59:59-23:59")])
@example([("until", "0001-01-01T00:00:00+23:59")])
@example([("until", "0001-01-01T00:00:00Z")])
def test_any_listing_query_is_answered_below_500(env: Env, query: list[tuple[str, str]]) -> None:
    status, body = problem_or_success(
        env.handler("SendFunction")(proxy_event("GET", "/v1/messages", query=query))
    )
    if status == 400:
        assert body["type"] in ("/problems/invalid-token", "/problems/invalid-json"), body


# --- GET and DELETE /v1/messages/{id} ------------------------------------------------------------


@pytest.fixture
def dynamodb_calls() -> Iterator[list[str]]:
    """The DynamoDB operations the handlers make while the test runs, but for reading the caller's
    tenant (by the id of the API key API Gateway checked, never by anything in the request)."""
    calls: list[str] = []
    tenants_table = os.environ["TENANTS_TABLE"]

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") != tenants_table:
            calls.append(model.name)

    events = aws.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb", record)  # params: the call's own
    yield calls
    events.unregister("before-parameter-build.dynamodb", record)


def is_one_of_our_ids(value: str) -> bool:
    """Our ids are uuid4/uuid5 strings, lower case (judged here independently of the code)."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


MESSAGE_IDS = (
    st.text(min_size=1, max_size=40)
    | st.uuids().map(str)
    | st.uuids().map(lambda u: str(u).upper())
    | st.sampled_from(["a" * 3000, "\ud800", "nonce#x", "unmatched#b#0", "%2F", "..", "\u00e9"])
)


@FUZZ
@given(st.sampled_from(["GET", "DELETE"]), MESSAGE_IDS)
def test_an_id_that_is_not_ours_is_a_404_without_asking_dynamodb(
    env: Env, dynamodb_calls: list[str], method: str, message_id: str
) -> None:
    dynamodb_calls.clear()
    answer = env.handler("SendFunction")(
        proxy_event(method, f"/v1/messages/{message_id}", resource="/v1/messages/{id}")
    )
    status, _ = problem_or_success(answer)
    if not is_one_of_our_ids(message_id):
        assert dynamodb_calls == []
        assert status in (404, 405)  # 405: an id holding "/" that leads to another route


# --- POST /v1/webhooks/sinch/delivery-reports ----------------------------------------------------

AUTH_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "x-sinch-webhook-signature",
                "X-Sinch-Webhook-Signature-Nonce",
                "x-sinch-webhook-signature-timestamp",
                "Authorization",
            ]
        ),
        HEADER_VALUE | st.sampled_from(["inf", "nan", "-1", "1e400", "Basic \u00e9", "Basic \ud800"]),
    ),
    max_size=5,
)


def report(**fields: Any) -> dict[str, Any]:
    return {
        "type": "recipient_delivery_report_sms",
        "batch_id": "01JD8Y5K3M2N4P6Q8R0S2T4V6W",
        "recipient": VALID_TO,
        "code": 0,
        "status": "Delivered",
        "at": "2026-11-23T19:00:03.120Z",
        "client_reference": str(uuid.uuid4()),
        **fields,
    }


@FUZZ
@given(AUTH_HEADERS, st.sampled_from([json.dumps(report())]) | st.text(max_size=30), st.booleans())
@example(
    [
        ("x-sinch-webhook-signature", "\u00e9" * 44),
        ("x-sinch-webhook-signature-nonce", "n"),
        ("x-sinch-webhook-signature-timestamp", str(int(time.time()))),
    ],
    json.dumps(report()),
    False,
)  # compare_digest's TypeError on a non-ASCII signature was a 500
@example([], "\ud800", True)  # a base64 body that is not UTF-8 failed to decode: a 500
def test_a_callback_without_a_valid_signature_is_a_401(
    env: Env, headers: list[tuple[str, str]], body: str, base64_body: bool
) -> None:
    event = proxy_event("POST", REPORT_PATH, headers=headers, body=body, base64_body=base64_body)
    status, problem = problem_or_success(env.handler("WebhookFunction")(event))
    assert (status, problem["type"]) in ((401, "/problems/unauthenticated"), (400, "/problems/invalid-json"))


REPORT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["recipient_delivery_report_sms", "delivery_report_mms", "other"]) | JSON,
        "batch_id": TEXTISH | JSON | st.just("b" * 5000),
        "client_reference": TEXTISH | JSON | st.just("a" * 3000) | st.uuids().map(str),
        "code": st.integers() | st.sampled_from([10**100, 10**40 + 1, -1]) | JSON,
        "status": st.sampled_from(["Delivered", "Queued", "Unknown", "delivered"]) | TEXTISH,
        "at": st.sampled_from(
            ["2026-11-23T19:00:03", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]
        )
        | TEXTISH,
        "operator_status_at": TEXTISH,
        "statuses": JSON
        | st.lists(
            st.fixed_dictionaries(
                {"code": st.integers(), "status": TEXTISH, "count": st.integers()},
                optional={"recipients": st.lists(st.text(max_size=5), max_size=50)},
            ),
            max_size=3,
        ),
        "total_message_count": st.integers() | JSON,
        "nested": JSON,
    },
)


def signed_event(body: str) -> dict[str, Any]:
    nonce, timestamp = uuid.uuid4().hex, str(int(time.time()))
    return proxy_event(
        "POST",
        REPORT_PATH,
        headers=[
            ("Content-Type", "application/json"),
            ("x-sinch-webhook-signature", signature(WEBHOOK_SECRET, body, nonce, timestamp)),
            ("x-sinch-webhook-signature-nonce", nonce),
            ("x-sinch-webhook-signature-timestamp", timestamp),
        ],
        body=body,
    )


@FUZZ
@given(REPORT_FIELDS)
@example({"code": 10**100})  # DynamoDB could not store the code: a 500 Sinch would retry for ever
@example({"client_reference": "a" * 3000})  # longer than a DynamoDB key
@example({"type": "delivery_report_sms", "statuses": [{"code": 10**100, "status": "Delivered", "count": 1}]})
def test_a_signed_report_of_any_content_is_kept_or_refused_as_malformed(
    env: Env, fields: dict[str, Any]
) -> None:
    status, answer = problem_or_success(
        env.handler("WebhookFunction")(signed_event(json.dumps(report(**fields))))
    )
    if status == 200:
        assert answer["result"] in ("moved", "stale", "unknown_message", "unknown_status")
    else:
        assert (status, answer["type"]) == (400, "/problems/invalid-delivery-report")


WIDE = "\U0001f600"  # four bytes in UTF-8
MO_HANDSET = "12025550188"  # its STOPs stop no other test's sends (opt-outs outlive a test)
MO_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["mo_text", "mo_media", "mo_binary"]) | JSON,
        "id": TEXTISH | JSON | st.just("I" * 101),
        "from": st.sampled_from([MO_HANDSET, "+" + MO_HANDSET, "+1202555abcd"]) | TEXTISH | JSON,
        "to": st.sampled_from(["12025550100"]) | TEXTISH,
        "body": st.sampled_from(["STOP", "start", WIDE * 10_000])
        | TEXTISH
        | JSON
        | st.fixed_dictionaries(
            {},
            optional={
                "subject": TEXTISH | st.just(WIDE * 10_000),
                "message": st.sampled_from(["STOP", WIDE * 10_000]) | TEXTISH,
                "media": JSON
                | st.lists(
                    st.fixed_dictionaries(
                        {"content_type": TEXTISH, "status": TEXTISH},
                        optional={"url": TEXTISH | st.just("https://m.example/" + WIDE * 2000)},
                    ),
                    max_size=50,
                ),
            },
        ),
        "received_at": st.sampled_from(
            [
                "2026-11-23T19:00:03Z",
                "9999-12-31T23:59:59-23:59",
                "0001-01-01T00:00:00+23:59",
                "0999-01-01T00:00:00Z",
            ]
        )
        | TEXTISH,
        "client_reference": TEXTISH | JSON | st.just("a" * 3000) | st.uuids().map(str),
    },
)


@FUZZ
@given(MO_FIELDS)
@example({"body": "STOP", "received_at": "9999-12-31T23:59:59-23:59"})  # an OverflowError: a 500
@example(
    {
        "type": "mo_media",
        "body": {
            "subject": WIDE * 10_000,
            "media": [{"url": "https://m.example/" + WIDE * 2000, "content_type": WIDE * 255, "status": "x"}]
            * 50,
        },
    }
)  # an item past DynamoDB's 400 KB: a 500
def test_a_signed_inbound_message_of_any_content_is_kept_or_refused_as_malformed(
    env: Env, fields: dict[str, Any]
) -> None:
    mo = {
        "type": "mo_text",
        "id": uuid.uuid4().hex[:26].upper(),
        "from": MO_HANDSET,
        "to": "12025550100",
        "body": "hello",
        "received_at": "2026-11-23T19:00:03Z",
        **fields,
    }
    event = signed_event(json.dumps(mo, ensure_ascii=False))
    event.update(path="/v1/webhooks/sinch/inbound", resource="/v1/webhooks/sinch/inbound")
    status, answer = problem_or_success(env.handler("WebhookFunction")(event))
    if status == 200:
        assert answer["result"] in ("new", "duplicate")
    else:
        invalid = ("/problems/invalid-inbound-message", "/problems/invalid-json")  # the latter: not UTF-8
        assert status == 400 and answer["type"] in invalid, answer


POSTBACK_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from(["N101", "N102", "N202", "E002", "E101", "N003", "X"]) | TEXTISH | JSON,
        "status": TEXTISH | JSON,
        "status-details": TEXTISH | JSON | st.just(WIDE * 120_000),
        "sent-as": TEXTISH,
        "tracking-id": TEXTISH | st.just("t" * 200),
        "mms-id": TEXTISH | st.just("m" * 200),
        "timestamp": st.sampled_from(["2026-11-23T19:00:03Z", "9999-12-31T23:59:59-23:59"]) | TEXTISH,
        "nested": JSON,
    },
)


@FUZZ
@given(POSTBACK_FIELDS, st.booleans())
@example({"code": "E002", "status-details": WIDE * 120_000}, True)  # the template's item past 400 KB: a 500
def test_an_mms_postback_of_any_content_is_taken_or_refused_as_malformed(
    env: Env, fields: dict[str, Any], for_template: bool
) -> None:
    webhook = {"webhook_secret": WEBHOOK_SECRET, "postback_token": "t0ken"}
    env.secrets.put_secret_value(SecretId=env.webhook_secret_id, SecretString=json.dumps(webhook))
    forget_cached_secrets()
    if for_template:  # one waiting for its postback
        template = MmsTemplate(tenant_id="k1l2m3n4o5", name="n", subject="s", slides=())
        TemplateRepository(aws.dynamodb(), env.table).create(template)
        reference = template.id
    else:
        reference = env.send({"to": VALID_TO, "text": "Hi"})[1]["id"]
    body = json.dumps(
        {"origin": "MMS_MT", "client-reference": reference, "code": "N102", **fields}, ensure_ascii=False
    )
    event = proxy_event(
        "POST",
        "/v1/webhooks/sinch/mms-postbacks/t0ken",
        headers=[("Content-Type", "application/json")],
        body=body,
        resource="/v1/webhooks/sinch/mms-postbacks/{token}",
    )
    event["pathParameters"] = {"token": "t0ken"}
    status, answer = problem_or_success(env.handler("WebhookFunction")(event))
    if status != 200:
        assert status == 400 and answer["type"] in (
            "/problems/invalid-delivery-report",
            "/problems/invalid-json",
        )


def test_a_signed_report_for_a_real_message_with_an_odd_time_moves_it(env: Env) -> None:
    _, sent = env.send({"to": VALID_TO, "text": "Hi"})
    body = json.dumps(report(client_reference=sent["id"], status="Queued", at="2026-11-23T19:00:03"))
    assert problem_or_success(env.handler("WebhookFunction")(signed_event(body))) == (
        200,
        {"result": "moved"},
    )
    assert env.stored(sent["id"])["events"][-1]["at"] == "2026-11-23T19:00:03Z"


# --- SendQueue -----------------------------------------------------------------------------------

# Bodies another service might publish, none of them a valid send request (no valid `to`).
QUEUED_BODY = (
    st.fixed_dictionaries(
        {"to": TEXTISH | JSON},
        optional={
            "text": TEXTISH | JSON,
            "clientReference": TEXTISH | JSON,
            "idempotencyKey": TEXTISH | JSON,
        },
    ).map(json.dumps)
    | JSON.filter(lambda v: not (isinstance(v, dict) and v.get("kind") == "retry")).map(json.dumps)
    | st.sampled_from(
        ["[" * 100_000, "", "{not json", '{"to": "\\ud800", "\\udfff": 1, "clientReference": "\\ud800"}']
    )
    | st.text(max_size=30).filter(
        lambda t: t.encode("utf-8", "surrogatepass") == t.encode("utf-8", "replace")
    )
)


@FUZZ
@given(QUEUED_BODY)
@example('{"to": "x", "clientReference": "\\ud800"}')  # stored the surrogate: failed and retried for ever
@example("[" * 100_000)  # RecursionError: failed and retried for ever
def test_an_invalid_queued_body_is_parked_on_the_dlq_with_a_reason_never_retried(env: Env, body: str) -> None:
    outcome = env.consume(body)
    assert outcome["result"] == {"batchItemFailures": []}
    ((parked, attributes),) = env.dead_letters()
    # As it came; a character SQS refuses (which SQS itself never delivers) as its JSON escape.
    assert parked == sqs_text(body)
    assert attributes["reason"].startswith("invalid_request: ")
    assert env.batch_requests() == []


def delayed_on_send_queue(env: Env) -> int:
    attributes = env.sqs.get_queue_attributes(
        QueueUrl=env.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


@pytest.mark.parametrize(
    ("retry", "parked"),
    [
        ('"messageId": "' + "a" * 3000 + '"', "unknown_message"),
        ('"messageId": "\\ud800"', "invalid_request"),
        ('"messageId": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b", "notBefore": NaN', "unknown_message"),
        ('"messageId": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b", "notBefore": -Infinity', "unknown_message"),
        # round(inf) failed the record, and SQS redelivered it for ever
        ('"messageId": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b", "notBefore": Infinity', None),
        ('"messageId": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b", "notBefore": 1e308', None),
    ],
)
def test_a_forged_retry_is_parked_or_waits_at_most_a_day(env: Env, retry: str, parked: str | None) -> None:
    delayed = delayed_on_send_queue(env)
    assert env.consume(f'{{"kind": "retry", {retry}}}')["result"] == {"batchItemFailures": []}
    if parked:
        ((_, attributes),) = env.dead_letters()
        assert attributes["reason"].startswith(parked)
    else:
        assert env.dead_letters() == []
        assert delayed_on_send_queue(env) == delayed + 1  # back on SendQueue, due within a day


# --- Sinch answering anything --------------------------------------------------------------------


class ScriptedSinch:
    """A stand-in for Sinch on 127.0.0.1 answering from a script: each request takes the next
    answer, and the last one stays."""

    def __init__(self) -> None:
        self._answers: list[tuple[int, dict[str, str], bytes]] = [(500, {}, b"")]
        self._lock = threading.Lock()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = scripted.next_answer()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer  # noqa: N815  # http.server's names

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def script(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        with self._lock:
            self._answers = list(answers)

    def next_answer(self) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def scripted(env: Env) -> Iterator[ScriptedSinch]:
    sinch = ScriptedSinch()
    env.set_secret(base_url=sinch.url)
    forget_cached_secrets()
    yield sinch
    sinch.stop()


LATIN1_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30)
SINCH_BODY = (
    st.binary(max_size=40)
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {},
        optional={
            "id": JSON | st.just("\ud800"),
            "code": JSON,
            "text": JSON,
            "batches": JSON,
            "per_recipient": JSON,
            "number_of_messages": JSON,
        },
    ).map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"[" * 100_000, b'{"number_of_messages": 1e400}'])
)
SINCH_ANSWER = st.tuples(
    st.integers(min_value=200, max_value=599),
    st.fixed_dictionaries(
        {},
        optional={
            "Retry-After": LATIN1_TEXT
            | st.sampled_from(["inf", "nan", "1e400", "-5", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT"])
        },
    ),
    SINCH_BODY,
)
BATCH: tuple[int, dict[str, str], bytes] = (201, {}, b'{"id": "01SCRIPTEDBATCH0000000000"}')


def api_post(env: Env, body: dict[str, Any], *headers: tuple[str, str]) -> tuple[int, Any]:
    event = proxy_event(
        "POST",
        "/v1/messages",
        headers=[("Content-Type", "application/json"), *headers],
        body=json.dumps(body),
    )
    return problem_or_success(env.handler("SendFunction")(event), sinch_down_ok=True)


@settings(FUZZ, max_examples=20)  # each example is up to seven handler calls
@given(SINCH_ANSWER)
@example((503, {"Retry-After": "inf"}, b"{}"))  # round(inf): a 500 on dry runs, a lost retry on sends
@example((200, {}, b'{"per_recipient": 5}'))  # a dry run iterating an int: a 500
@example((201, {}, b'{"id": "\\ud800"}'))  # a batch id nothing could store or put in a URL
@example((201, {}, b'{"id": ' + b"7" * 4301 + b"}"))  # past the integer digits Python converts
@example((200, {}, b'{"number_of_messages": ' + b"7" * 4301 + b"}"))
def test_any_sinch_answer_is_one_of_our_documented_answers(
    env: Env, scripted: ScriptedSinch, answer: tuple[int, dict[str, str], bytes]
) -> None:
    sms = {"to": VALID_TO, "text": "Hi"}
    env.forget_rate()  # an earlier example's 429s must not hold this one's sends off
    scripted.script(answer)
    status, accepted = api_post(env, sms)
    api_post(env, sms, ("X-Dry-Run", "true"))
    if status == 202 and accepted["status"] == "retrying":
        scripted.script(answer)  # the lookup before a second attempt, then the attempt
        retried = env.consume(json.dumps({"kind": "retry", "messageId": accepted["id"]}))
        assert retried["result"] == {"batchItemFailures": []}
        assert env.stored(accepted["id"])["status"] in ("retrying", "submitted", "rejected", "failed")

    scripted.script(BATCH, answer)  # a scheduled message, then its cancel
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, scheduled = api_post(env, {**sms, "sendAt": send_at})
    assert (status, scheduled["status"]) == (202, "submitted")
    cancel = proxy_event("DELETE", f"/v1/messages/{scheduled['id']}", resource="/v1/messages/{id}")
    problem_or_success(env.handler("SendFunction")(cancel), sinch_down_ok=True)


TOKEN_BODY = (
    JSON.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {},
        optional={
            "access_token": JSON | st.sampled_from(["tok", "ab\r\nX-Evil: 1", "\u00e9", "\ud800"]),
            "expires_in": JSON | st.sampled_from([-5, 10**400]),
        },
    ).map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"[" * 100_000, b'{"access_token": "tok", "expires_in": 1e400}'])
)


@pytest.fixture
def scripted_oauth(env: Env, scripted: ScriptedSinch) -> ScriptedSinch:
    env.set_secret(auth="oauth", auth_url=f"{scripted.url}/oauth2/token", base_url=scripted.url, **PROJECT)
    forget_cached_secrets()
    return scripted


@settings(FUZZ, max_examples=20)
@given(st.integers(min_value=200, max_value=599), TOKEN_BODY)
@example(200, b'{"access_token": "ab\\r\\nX-Evil: 1"}')  # http.client refused the header: a 500
@example(200, b"[" * 100_000)
@example(200, b'{"access_token": "tok", "expires_in": ' + b"7" * 4301 + b"}")
def test_any_oauth_token_answer_is_one_of_our_documented_answers(
    env: Env, scripted_oauth: ScriptedSinch, status: int, body: bytes
) -> None:
    # A 401 first, whether it meets a token cached by an earlier example or the token endpoint:
    # either way the next token comes from this example's answer, then the batch.
    scripted_oauth.script((401, {}, b""), (status, {}, body), BATCH)
    status, accepted = api_post(env, {"to": VALID_TO, "text": "Hi"})
    if status == 202:
        assert accepted["status"] in ("submitted", "retrying")
