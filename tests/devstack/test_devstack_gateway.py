"""devstack.gateway: routing, the REST proxy event, API Gateway's own answers, proxy responses."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.gateway import (
    ApiGateway,
    Request,
    RouteTable,
    UsagePlan,
    forbidden,
    proxy_response,
    too_many_requests,
)
from devstack.runtime import Invocation
from devstack.template import ApiSpec, GatewayResponse, Route, Template

REPO = Path(__file__).resolve().parents[2]

API = ApiSpec(
    logical_id="Api", rest_api_id="abc123defg", stage="prod", api_key_required=True, binary_media_types=()
)
KEY = "k" * 40


def route(method: str, path: str, function: str = "Fn", *, key: bool = True) -> Route:
    return Route(
        path=path,
        method=method,
        function=function,
        api="Api",
        event_id=f"{method}{path}",
        api_key_required=key,
    )


ROUTES = [
    route("POST", "/v1/messages"),
    route("GET", "/v1/messages/{id}"),
    route("GET", "/v1/messages/search"),
    route("ANY", "/files/{proxy+}"),
    route("GET", "/{proxy+}"),
    route("GET", "/health", key=False),
]


class FakeInvoker:
    """Calls plain Python functions in-process and records the events."""

    def __init__(self, handler: Callable[[dict[str, Any]], Any]) -> None:
        self.handler = handler
        self.events: list[dict[str, Any]] = []

    def invoke(self, function: str, event: Any) -> Invocation:
        self.events.append(event)
        try:
            payload = self.handler(event)
        except Exception as exc:
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": []}
            return Invocation(function=function, request_id="r", ok=False, error=error)
        return Invocation(function=function, request_id="r", ok=True, payload=payload)


def ok(event: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}


@pytest.fixture
def gateway() -> Iterator[ApiGateway]:
    gw = ApiGateway(ROUTES, {"Api": API}, api_keys={KEY: "keyid12345"}, invoker=FakeInvoker(ok))
    yield gw
    gw.stop()


def request(
    method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b""
) -> Request:
    return Request(
        method=method,
        target=target,
        headers=headers or [("Host", "127.0.0.1:3000")],
        body=body,
        source_ip="127.0.0.1",
    )


# --- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "resource", "params"),
    [
        ("GET", "/v1/messages/search", "/v1/messages/search", {}),  # a literal beats {id}
        ("GET", "/v1/messages/abc", "/v1/messages/{id}", {"id": "abc"}),  # {id} beats the root {proxy+}
        ("POST", "/v1/messages", "/v1/messages", {}),
        ("POST", "/v1/messages/", "/v1/messages", {}),  # a trailing slash is the same resource
        ("DELETE", "/files/a/b/c.txt", "/files/{proxy+}", {"proxy": "a/b/c.txt"}),  # ANY
        ("GET", "/other/x", "/{proxy+}", {"proxy": "other/x"}),
        ("GET", "/v1/messages/abc/def", "/{proxy+}", {"proxy": "v1/messages/abc/def"}),  # backtracks
    ],
)
def test_route_matching_precedence(method: str, path: str, resource: str, params: dict[str, str]) -> None:
    match = RouteTable(ROUTES).match(method, path)
    assert match is not None and match.route is not None
    assert (match.route.path, match.path_parameters) == (resource, params)


def test_a_resource_without_the_method_has_no_route() -> None:
    table = RouteTable(ROUTES)
    match = table.match("POST", "/v1/messages/abc")  # /v1/messages/{id} has only GET
    assert match is not None and match.resource == "/v1/messages/{id}" and match.route is None
    assert RouteTable([route("GET", "/a")]).match("GET", "/b") is None


# --- the event ----------------------------------------------------------------------------------

# What API Gateway (REST API, Lambda proxy integration) sends for the request below; the values
# marked ANY differ on every request.
ANY = object()
EXPECTED_EVENT = {
    "resource": "/v1/messages/{id}",
    "path": "/v1/messages/m-1",
    "httpMethod": "GET",
    "headers": {
        "Host": "127.0.0.1:3000",
        "User-Agent": "curl/8.5.0",
        "x-api-key": KEY,
        "X-Multi": "two",
        "X-Amzn-Trace-Id": ANY,
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Port": ANY,
        "X-Forwarded-Proto": "http",
    },
    "multiValueHeaders": {
        "Host": ["127.0.0.1:3000"],
        "User-Agent": ["curl/8.5.0"],
        "x-api-key": [KEY],
        "X-Multi": ["one", "two"],
        "X-Amzn-Trace-Id": ANY,
        "X-Forwarded-For": ["127.0.0.1"],
        "X-Forwarded-Port": ANY,
        "X-Forwarded-Proto": ["http"],
    },
    "queryStringParameters": {"verbose": "1", "tag": "b"},
    "multiValueQueryStringParameters": {"verbose": ["1"], "tag": ["a", "b"]},
    "pathParameters": {"id": "m-1"},
    "stageVariables": None,
    "requestContext": {
        "resourceId": ANY,
        "resourcePath": "/v1/messages/{id}",
        "httpMethod": "GET",
        "extendedRequestId": ANY,
        "requestTime": ANY,
        "path": "/prod/v1/messages/m-1",
        "accountId": "123456789012",
        "protocol": "HTTP/1.1",
        "stage": "prod",
        "domainPrefix": "127",
        "requestTimeEpoch": ANY,
        "requestId": ANY,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": "127.0.0.1",
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": "curl/8.5.0",
            "user": None,
            "apiKey": KEY,
            "apiKeyId": "keyid12345",
        },
        "domainName": "127.0.0.1:3000",
        "deploymentId": ANY,
        "apiId": "abc123defg",
    },
    "body": None,
    "isBase64Encoded": False,
}


def assert_shape(actual: Any, expected: Any, where: str = "event") -> None:
    if expected is ANY:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert list(actual) == list(expected) or set(actual) == set(expected), (
            where,
            set(actual) ^ set(expected),
        )
        for key, value in expected.items():
            assert_shape(actual[key], value, f"{where}.{key}")
    else:
        assert actual == expected, where


def test_event_matches_the_rest_proxy_shape(gateway: ApiGateway) -> None:
    headers = [
        ("Host", "127.0.0.1:3000"),
        ("User-Agent", "curl/8.5.0"),
        ("x-api-key", KEY),
        ("X-Multi", "one"),
        ("X-Multi", "two"),
    ]
    response, request_id, function = gateway.handle(
        request("GET", "/v1/messages/m-1?verbose=1&tag=a&tag=b", headers)
    )
    assert response.status == 200 and function == "Fn"
    (event,) = gateway.invoker.events  # type: ignore[union-attr]
    assert_shape(event, EXPECTED_EVENT)
    context = event["requestContext"]
    assert context["requestId"] == request_id
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["requestTime"])
    assert isinstance(context["requestTimeEpoch"], int)
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", event["headers"]["X-Amzn-Trace-Id"])
    assert event["headers"]["X-Forwarded-Port"] == str(gateway.port)
    assert ("x-amzn-RequestId", request_id) in response.headers


def test_event_without_headers_query_or_params_uses_nulls(gateway: ApiGateway) -> None:
    gateway.handle(request("GET", "/health"))
    (event,) = gateway.invoker.events  # type: ignore[union-attr]
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert "apiKey" not in event["requestContext"]["identity"]  # the route needs no key


def test_text_and_binary_bodies(gateway: ApiGateway) -> None:
    json_headers = [("Host", "h"), ("x-api-key", KEY), ("Content-Type", "application/json")]
    gateway.handle(request("POST", "/v1/messages", json_headers, body='{"text": "héllo"}'.encode()))
    gateway.handle(request("POST", "/v1/messages", json_headers, body=b"\xff\xfe\x00binary"))
    text, binary = gateway.invoker.events  # type: ignore[union-attr]
    assert (text["body"], text["isBase64Encoded"]) == ('{"text": "héllo"}', False)
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\xfe\x00binary"


def test_binary_media_types_are_base64(gateway: ApiGateway) -> None:
    gateway.apis["Api"] = ApiSpec("Api", "abc123defg", "prod", True, ("image/*",))
    headers = [("Host", "h"), ("x-api-key", KEY), ("Content-Type", "image/png")]
    gateway.handle(request("POST", "/v1/messages", headers, body=b"PNG"))
    (event,) = gateway.invoker.events  # type: ignore[union-attr]
    assert (event["body"], event["isBase64Encoded"]) == ("UE5H", True)


# --- API Gateway's own answers ------------------------------------------------------------------


def body_of(response: Any) -> Any:
    return json.loads(response.body)


def header(response: Any, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/"), ("GET", "/nowhere"), ("GET", "/v1"), ("POST", "/v1/messages/abc"), ("DELETE", "/health")],
)
def test_missing_authentication_token(gateway: ApiGateway, method: str, target: str) -> None:
    gateway.routes = RouteTable([r for r in ROUTES if r.path != "/{proxy+}"])
    response, _, function = gateway.handle(request(method, target, [("Host", "h"), ("x-api-key", KEY)]))
    assert response.status == 403
    assert body_of(response) == {"message": "Missing Authentication Token"}
    assert header(response, "x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert header(response, "Content-Type") == "application/json"
    assert function is None


@pytest.mark.parametrize("headers", [[], [("x-api-key", "wrong")], [("x-api-key", "")]])
def test_forbidden_without_a_valid_key(gateway: ApiGateway, headers: list[tuple[str, str]]) -> None:
    response, _, function = gateway.handle(request("POST", "/v1/messages", [("Host", "h"), *headers]))
    assert response.status == 403
    assert body_of(response) == {"message": "Forbidden"}
    assert header(response, "x-amzn-ErrorType") == "ForbiddenException"
    assert function is None
    assert gateway.invoker.events == []  # type: ignore[union-attr]


def test_the_key_header_name_is_case_insensitive(gateway: ApiGateway) -> None:
    response, _, _ = gateway.handle(request("POST", "/v1/messages", [("Host", "h"), ("X-API-Key", KEY)]))
    assert response.status == 200


def test_a_public_route_needs_no_key(gateway: ApiGateway) -> None:
    response, _, _ = gateway.handle(request("GET", "/health"))
    assert response.status == 200


# --- proxy responses ----------------------------------------------------------------------------


def test_multi_value_headers_are_read() -> None:
    # Powertools' APIGatewayRestResolver answers with multiValueHeaders only.
    response = proxy_response(
        {
            "statusCode": 202,
            "multiValueHeaders": {"Content-Type": ["application/json"], "Set-Cookie": ["a=1", "b=2"]},
            "body": "{}",
            "isBase64Encoded": False,
        }
    )
    assert response is not None
    assert response.status == 202
    assert response.headers == [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


def test_headers_and_multi_value_headers_merge() -> None:
    response = proxy_response(
        {
            "statusCode": 200,
            "headers": {"Location": "/v1/messages/1", "X-Both": "single", "X-Count": 3},
            "multiValueHeaders": {"x-both": ["multi"]},
            "body": "",
        }
    )
    assert response is not None
    assert ("x-both", "multi") in response.headers
    assert ("X-Both", "single") not in response.headers  # multiValueHeaders wins
    assert ("Location", "/v1/messages/1") in response.headers
    assert ("X-Count", "3") in response.headers
    assert ("Content-Type", "application/json") in response.headers  # API Gateway's default


def test_base64_body_and_remapped_headers() -> None:
    response = proxy_response(
        {"statusCode": 200, "headers": {"Content-Length": "1"}, "body": "AAEC", "isBase64Encoded": True}
    )
    assert response is not None
    assert response.body == b"\x00\x01\x02"
    assert ("x-amzn-Remapped-Content-Length", "1") in response.headers


@pytest.mark.parametrize(
    "payload",
    [
        "a string",
        ["a list"],
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "", "extra": 1},
        {"statusCode": "two hundred"},
        {"statusCode": 200, "headers": {"X": {"nested": 1}}},
        {"statusCode": 200, "multiValueHeaders": {"X": "not a list"}},
        {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
    ],
)
def test_malformed_responses_are_502(gateway: ApiGateway, payload: Any) -> None:
    assert proxy_response(payload) is None
    gateway.invoker = FakeInvoker(lambda event: payload)
    response, _, _ = gateway.handle(request("GET", "/health"))
    assert response.status == 502
    assert body_of(response) == {"message": "Internal server error"}
    assert header(response, "x-amzn-ErrorType") == "InternalServerErrorException"


def test_a_handler_error_is_502(gateway: ApiGateway) -> None:
    def boom(event: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    gateway.invoker = FakeInvoker(boom)
    response, _, _ = gateway.handle(request("GET", "/health"))
    assert response.status == 502
    assert body_of(response) == {"message": "Internal server error"}


# --- over HTTP ----------------------------------------------------------------------------------


def test_over_http(gateway: ApiGateway) -> None:
    gateway.invoker = FakeInvoker(
        lambda event: {
            "statusCode": 201,
            "multiValueHeaders": {"Content-Type": ["application/json"], "X-Echo": [event["httpMethod"]]},
            "body": json.dumps({"body": event["body"], "b64": event["isBase64Encoded"]}),
            "isBase64Encoded": False,
        }
    )
    gateway.start()
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    try:
        connection.request("POST", "/v1/messages", body=b'{"to": "+1"}', headers={"X-Api-Key": KEY})
        response = connection.getresponse()
        assert response.status == 201
        assert response.getheader("X-Echo") == "POST"
        assert response.getheader("x-amzn-RequestId")
        assert json.loads(response.read()) == {"body": '{"to": "+1"}', "b64": False}
        # the same (keep-alive) connection: an unknown path
        connection.request("GET", "/v1/messages/a/b/c/d?x=1", headers={"X-Api-Key": KEY})
        response = connection.getresponse()
        assert response.status in (200, 201)  # /{proxy+} takes it
        response.read()
    finally:
        connection.close()


def test_the_event_names_the_address_the_request_came_from(gateway: ApiGateway) -> None:
    """The simulator calls back from 127.0.0.2: the function sees that, not the tests' 127.0.0.1."""
    gateway.start()
    connection = http.client.HTTPConnection(
        "127.0.0.1", gateway.port, timeout=5, source_address=("127.0.0.2", 0)
    )
    try:
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    (event,) = gateway.invoker.events  # type: ignore[union-attr]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.2"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.2"


def test_over_10_mb_is_413(gateway: ApiGateway) -> None:
    gateway.start()
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    try:
        connection.putrequest("POST", "/v1/messages")
        connection.putheader("x-api-key", KEY)
        connection.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert response.read() == b"HTTP content length exceeded 10485760 bytes."
    finally:
        connection.close()
    assert gateway.invoker.events == []  # type: ignore[union-attr]


def exchange(port: int, raw: bytes, answers: int, *, then_closed: bool = False) -> list[tuple[int, bytes]]:
    """Send `raw` (several requests, pipelined on one connection) and read `answers` responses
    (status and body; each has a Content-Length); with `then_closed`, the server must have closed
    the connection after them."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        reader = sock.makefile("rb")
        read = []
        for _ in range(answers):
            status = int(reader.readline().split()[1])
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            read.append((status, reader.read(length)))
        if then_closed:
            assert reader.read() == b"", "nothing more is read from, or answered on, the connection"
        return read


@pytest.mark.parametrize(
    "unsupported",
    [
        b"TRACE /health HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nGET /nowher",
        b"QUERY /health HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n",
    ],
)
def test_an_unsupported_method_with_a_body_leaves_the_connection_usable(
    gateway: ApiGateway, unsupported: bytes
) -> None:
    gateway.start()
    answers = exchange(gateway.port, unsupported + b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n", 2)
    assert answers[0][0] == 403
    assert json.loads(answers[0][1]) == {"message": "Missing Authentication Token"}
    assert answers[1] == (200, b'{"ok": true}'), "the next request on the connection is read as sent"
    assert [e["path"] for e in gateway.invoker.events] == ["/health"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 2x\r\n\r\n{}",
        b"Content-Length: -2\r\n\r\n{}",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ],
)
def test_a_body_whose_end_cannot_be_told_is_a_400_and_the_connection_is_closed(
    gateway: ApiGateway, framing: bytes
) -> None:
    gateway.start()
    raw = b"POST /health HTTP/1.1\r\nHost: h\r\n" + framing + b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n"
    assert exchange(gateway.port, raw, 1, then_closed=True) == [(400, b"Bad Request")]
    assert gateway.invoker.events == []  # type: ignore[union-attr]


def test_usage_plan_throttles_per_key(gateway: ApiGateway) -> None:
    gateway.usage_plan = UsagePlan(rate_limit=0.001, burst_limit=2, quota_limit=100)
    statuses = [gateway.handle(request("POST", "/v1/messages", [("x-api-key", KEY)]))[0] for _ in range(3)]
    assert [r.status for r in statuses] == [200, 200, 429]
    assert body_of(statuses[2]) == {"message": "Too Many Requests"}
    gateway.usage_plan = UsagePlan(rate_limit=1000, burst_limit=1000, quota_limit=1)
    statuses = [gateway.handle(request("POST", "/v1/messages", [("x-api-key", KEY)]))[0] for _ in range(2)]
    assert [r.status for r in statuses] == [200, 429]
    assert body_of(statuses[1]) == {"message": "Limit Exceeded"}


# --- the stage's method throttles and access log, from template.yaml -------------------------------


def template_gateway(lines: list[str] | None = None, **parameters: str) -> ApiGateway:
    template = Template(REPO / "template.yaml", parameter_overrides=parameters)
    return ApiGateway(
        template.routes(),
        template.apis(),
        api_keys={KEY: "keyid12345"},
        invoker=FakeInvoker(ok),
        access_log=lines is not None,
        log=None if lines is None else lines.append,
    )


def test_routes_without_a_key_are_throttled_as_the_template_says() -> None:
    gateway = template_gateway(HealthRateLimit="0.001", HealthBurstLimit="2")
    try:
        health = [gateway.handle(request("GET", "/health"))[0] for _ in range(3)]
        assert [r.status for r in health] == [200, 200, 429]
        assert body_of(health[2])["message"] == "Too Many Requests"
        assert header(health[2], "x-amzn-ErrorType") == "TooManyRequestsException"
        assert len(gateway.invoker.events) == 2  # type: ignore[union-attr]  # nothing throttled got through
        report = request("POST", "/v1/webhooks/sinch/delivery-reports")
        assert {gateway.handle(report)[0].status for _ in range(300)} == {200}, (
            "Sinch's webhooks share no throttle: their limit is per address (devstack.waf)"
        )
        keyed = [gateway.handle(request("GET", "/v1/messages/m1", [("x-api-key", KEY)]))[0] for _ in range(5)]
        assert {r.status for r in keyed} == {200}, "routes with a key have the usage plan instead"
    finally:
        gateway.stop()


def test_the_gateways_own_429s_carry_retry_after_and_the_ratelimit_fields() -> None:
    """Static values, as API Gateway's gateway responses allow: the per-key policy of the template."""
    gateway = template_gateway(HealthRateLimit="0.001", HealthBurstLimit="1", ApiRateLimit="50")
    try:
        gateway.handle(request("GET", "/health"))
        throttled = gateway.handle(request("GET", "/health"))[0]
        gateway.usage_plan = UsagePlan(rate_limit=0.001, burst_limit=1)
        keyed = [gateway.handle(request("GET", "/v1/messages/m1", [("x-api-key", KEY)]))[0] for _ in range(2)]
        gateway.usage_plan = UsagePlan(rate_limit=1000, burst_limit=1000, quota_limit=1)
        quota = [gateway.handle(request("GET", "/v1/messages/m1", [("x-api-key", KEY)]))[0] for _ in range(2)]
    finally:
        gateway.stop()
    for answer in (throttled, keyed[1]):
        assert answer.status == 429
        assert (header(answer, "Retry-After"), header(answer, "RateLimit")) == ("1", '"per-key";r=0;t=1')
        assert header(answer, "RateLimit-Policy") == '"per-key";q=50;w=1'
        assert body_of(answer)["type"] == "/problems/too-many-requests"
    assert quota[1].status == 429
    assert (header(quota[1], "Retry-After"), header(quota[1], "RateLimit")) == ("3600", '"per-key-daily";r=0')
    assert header(quota[1], "RateLimit-Policy") == '"per-key-daily";q=100000;w=86400'
    assert body_of(quota[1])["type"] == "/problems/quota-exceeded"


def test_each_request_is_logged_in_the_templates_json_format_with_the_key_id() -> None:
    lines: list[str] = []
    gateway = template_gateway(lines)
    try:
        answers = [
            gateway.handle(request("POST", "/v1/messages?x=1", [("x-api-key", KEY)], body=b"{}"))[0],
            gateway.handle(request("GET", "/health"))[0],
            gateway.handle(request("GET", "/v1/messages/m1", [("x-api-key", "wrong")]))[0],
        ]
    finally:
        gateway.stop()
    records = [json.loads(line.removeprefix("[api] ")) for line in lines if line.startswith("[api] {")]
    assert [(r["apiKeyId"], r["resourcePath"], r["status"]) for r in records] == [
        ("keyid12345", "/v1/messages", "200"),
        ("-", "/health", "200"),
        ("-", "/v1/messages/{id}", "403"),  # a key that is not one of ours identifies nobody
    ]
    for record, answer in zip(records, answers, strict=True):
        assert record["requestId"] == header(answer, "x-amzn-RequestId")
        assert record["ip"] == "127.0.0.1"
        assert record["responseLength"] == str(len(answer.body))
        assert int(record["responseLatency"]) >= 0
    assert records[0]["httpMethod"] == "POST"


def test_a_format_variable_the_local_gateway_cannot_fill_is_refused() -> None:
    api = ApiSpec(
        logical_id="Api",
        rest_api_id="abc123defg",
        stage="prod",
        api_key_required=True,
        binary_media_types=(),
        access_log_format='{"agent": "$context.identity.userAgent"}',
    )
    with pytest.raises(ValueError, match=r"identity\.userAgent"):
        ApiGateway(ROUTES, {"Api": api}, api_keys={}, invoker=FakeInvoker(ok))


# --- gateway responses --------------------------------------------------------------------------


def custom_api(*responses: GatewayResponse) -> dict[str, ApiSpec]:
    return {"Api": dataclasses.replace(API, gateway_responses=responses)}


def custom(
    response_type: str, template: str, status: int | None = None, headers: tuple[tuple[str, str], ...] = ()
) -> GatewayResponse:
    return GatewayResponse(response_type, status, headers, (("application/json", template),))


def test_gateway_responses_rewrite_the_gateways_own_answers_of_their_type() -> None:
    responses = custom_api(
        custom("INVALID_API_KEY", '{"message": "key please", "was": $context.error.messageString}'),
        custom(
            "MISSING_AUTHENTICATION_TOKEN",
            '{"type": "$context.error.responseType"}',
            404,
            (("X-Hint", "v1"),),
        ),
    )
    gateway = ApiGateway(
        [r for r in ROUTES if r.path != "/{proxy+}"], responses, api_keys={KEY: "id"}, invoker=FakeInvoker(ok)
    )
    try:
        refused, _, _ = gateway.handle(request("POST", "/v1/messages", [("x-api-key", "wrong")]))
        unknown, _, _ = gateway.handle(request("GET", "/nowhere", [("x-api-key", KEY)]))
        throttled = gateway.customised(too_many_requests(), None)
        answered, _, _ = gateway.handle(request("POST", "/v1/messages", [("x-api-key", KEY)]))
    finally:
        gateway.stop()
    assert (refused.status, body_of(refused)) == (403, {"message": "key please", "was": "Forbidden"})
    assert header(refused, "x-amzn-ErrorType") == "ForbiddenException"
    assert (unknown.status, body_of(unknown), header(unknown, "X-Hint")) == (
        404,
        {"type": "MISSING_AUTHENTICATION_TOKEN"},
        "v1",
    )
    assert body_of(throttled) == {"message": "Too Many Requests"}, "a type without an entry is API Gateway's"
    assert body_of(answered) == {"ok": True}, "the function's own answers are never rewritten"


def test_default_4xx_covers_the_4xx_types_without_an_entry() -> None:
    gateway = ApiGateway(
        ROUTES, custom_api(custom("DEFAULT_4XX", '{"oops": $context.error.messageString}')), api_keys={}
    )
    try:
        assert body_of(gateway.customised(forbidden(), None)) == {"oops": "Forbidden"}
        assert body_of(gateway.customised(too_many_requests(), None)) == {"oops": "Too Many Requests"}
        assert gateway.customised(too_many_requests(), None).status == 429
    finally:
        gateway.stop()


def test_a_gateway_response_variable_the_local_gateway_cannot_fill_is_refused() -> None:
    responses = custom_api(custom("INVALID_API_KEY", '{"path": "$context.path"}'))
    with pytest.raises(ValueError, match=r"\['path'\] in GatewayResponses\.INVALID_API_KEY"):
        ApiGateway(ROUTES, responses, api_keys={}, invoker=FakeInvoker(ok))


def test_the_local_gateway_answers_as_the_templates_gateway_responses_say() -> None:
    """Each refusal names what it lacks: the body is exactly the template's, the status 403."""
    expected = {
        r.response_type: json.loads(dict(r.templates)["application/json"])
        for r in Template(REPO / "template.yaml").apis()["Api"].gateway_responses
    }
    assert "x-api-key" in expected["INVALID_API_KEY"]["message"]
    assert "x-api-key" in expected["MISSING_AUTHENTICATION_TOKEN"]["message"]
    gateway = template_gateway()
    try:
        for key in ([], [("x-api-key", "wrong")]):
            refused = gateway.handle(request("GET", "/v1/messages/m1", key))[0]
            assert (refused.status, body_of(refused)) == (403, expected["INVALID_API_KEY"])
            assert [v for k, v in refused.headers if k.lower() == "content-type"] == [
                "application/problem+json"
            ]
        unknown = gateway.handle(request("PUT", "/v1/docs", [("x-api-key", KEY)]))[0]
        assert (unknown.status, body_of(unknown)) == (403, expected["MISSING_AUTHENTICATION_TOKEN"])
        for path in ("/v1/docs", "/v1/openapi.json"):
            assert gateway.handle(request("GET", path))[0].status == 200, f"{path} needs no key"
    finally:
        gateway.stop()
