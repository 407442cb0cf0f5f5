"""A local API Gateway (REST API, Lambda proxy integration) for the template's ``Api`` events.

One job: turn HTTP requests into the events API Gateway sends (payload format 1.0, the REST
proxy shape), call the function, and turn its proxy response back into HTTP, with API Gateway's
own answers where it would give them: 403 ``Missing Authentication Token`` for an unknown
resource or method, 403 ``Forbidden`` without a valid ``x-api-key``, 429 ``Too Many Requests``
beyond the stage's method throttles (and the usage plan's, when enabled), 502 ``Internal server
error`` when the function fails or answers something malformed, 413 over 10 MB. The Api's
``GatewayResponses`` rewrite those of their type (status, static headers, body template). A web
ACL on the stage (devstack.waf) answers before all of that. Each request gets an access log line
in the stage's ``AccessLogSetting.Format``.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from devstack.console import print_line
from devstack.runtime import Invoker
from devstack.template import DEFAULT_ACCOUNT_ID, ApiSpec, GatewayResponse, MethodThrottle, Route, fake_id

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway REST payload limit
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
# Headers API Gateway does not pass through from an integration response as they are.
_REMAPPED_RESPONSE_HEADERS = {"connection", "content-length", "date", "server", "transfer-encoding"}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


# --- routing ------------------------------------------------------------------------------------


@dataclass
class _Resource:
    path: str
    literals: dict[str, _Resource] = field(default_factory=dict)
    param: tuple[str, _Resource] | None = None
    greedy: tuple[str, _Resource] | None = None
    methods: dict[str, Route] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """The resource a request path selected; ``route`` is None when it lacks the method."""

    resource: str
    route: Route | None
    path_parameters: dict[str, str]


class RouteTable:
    """API Gateway's resource tree: per segment a literal beats ``{param}`` beats ``{proxy+}``."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.root = _Resource("/")
        for route in routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        node = self.root
        path = ""
        for segment in _segments(route.path):
            path += "/" + segment
            if segment.startswith("{") and segment.endswith("+}"):
                name = segment[1:-2]
                if node.greedy is None:
                    node.greedy = (name, _Resource(path))
                node = node.greedy[1]
            elif segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if node.param is None:
                    node.param = (name, _Resource(path))
                elif node.param[0] != name:
                    raise ValueError(f"{route.path}: {{{name}}} conflicts with {{{node.param[0]}}} at {path}")
                node = node.param[1]
            else:
                node = node.literals.setdefault(segment, _Resource(path))
        node.methods.setdefault(route.method, route)

    def match(self, method: str, path: str) -> Match | None:
        found = self._find(self.root, _segments(path), 0, {})
        if found is None:
            return None
        node, params = found
        route = node.methods.get(method.upper()) or node.methods.get("ANY")
        return Match(resource=node.path, route=route, path_parameters=params)

    def _find(
        self, node: _Resource, segments: list[str], index: int, params: dict[str, str]
    ) -> tuple[_Resource, dict[str, str]] | None:
        if index == len(segments):
            return node, params
        segment = segments[index]
        child = node.literals.get(segment)
        if child is not None:
            found = self._find(child, segments, index + 1, params)
            if found is not None:
                return found
        if node.param is not None and segment:
            name, child = node.param
            found = self._find(child, segments, index + 1, {**params, name: segment})
            if found is not None:
                return found
        if node.greedy is not None:
            name, child = node.greedy
            return child, {**params, name: "/".join(segments[index:])}
        return None


def _segments(path: str) -> list[str]:
    path = path.strip("/")
    return path.split("/") if path else []


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # the request target as sent: path and query string
    headers: Sequence[tuple[str, str]]  # in order, duplicates kept, names as sent
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class Refusal:
    """What an answer of API Gateway's own is: its gateway response type, and its message."""

    response_type: str
    message: str


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    refusal: Refusal | None = None  # set on API Gateway's own answers, which GatewayResponses rewrite


def build_event(
    request: Request,
    match: Match,
    api: ApiSpec,
    *,
    request_id: str,
    extended_request_id: str,
    api_key: tuple[str, str] | None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Lambda proxy integration event (payload format 1.0) for ``request``."""
    assert match.route is not None
    now = now or datetime.now(UTC)
    split = urlsplit(request.target)
    path = split.path or "/"
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value  # the last one wins, as on API Gateway
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    host = _header(request.headers, "host") or ""
    body, is_base64 = _event_body(request, api)
    identity: dict[str, Any] = {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "sourceIp": request.source_ip,
        "principalOrgId": None,
        "accessKey": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": _header(request.headers, "user-agent"),
        "user": None,
    }
    if api_key is not None:
        identity["apiKey"], identity["apiKeyId"] = api_key
    return {
        "resource": match.route.path,
        "path": path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": fake_id(f"{api.rest_api_id}{match.route.path}", 6),
            "resourcePath": match.route.path,
            "httpMethod": request.method,
            "extendedRequestId": extended_request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{api.stage}{path}",
            "accountId": account_id,
            "protocol": request.protocol,
            "stage": api.stage,
            "domainPrefix": host.split(":")[0].split(".")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": identity,
            "domainName": host,
            "deploymentId": fake_id(f"{api.rest_api_id}/deployment", 6),
            "apiId": api.rest_api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _event_body(request: Request, api: ApiSpec) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    content_type = (_header(request.headers, "content-type") or "").split(";")[0].strip().lower()
    binary = any(fnmatch.fnmatch(content_type, pattern.lower()) for pattern in api.binary_media_types)
    if not binary:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # API Gateway would mangle it; the local stack passes it intact instead
    return base64.b64encode(request.body).decode("ascii"), True


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    value = None
    for key, item in headers:
        if key.lower() == name:
            value = item
    return value


class _Malformed(Exception):
    """API Gateway's "Malformed Lambda proxy response"."""


def proxy_response(payload: Any) -> Response | None:
    """The HTTP response for a Lambda proxy result, or None when API Gateway would reject it."""
    if payload is None:
        payload = {}
    try:
        if not isinstance(payload, dict) or not set(payload) <= _PROXY_RESPONSE_KEYS:
            raise _Malformed
        return Response(
            status=_proxy_status(payload.get("statusCode", 200)),
            headers=_remap(_proxy_headers(payload.get("headers"), payload.get("multiValueHeaders"))),
            body=_proxy_body(payload.get("body"), payload.get("isBase64Encoded", False)),
        )
    except _Malformed:
        return None


def _proxy_status(status: Any) -> int:
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise _Malformed
    return status


def _proxy_headers(single: Any, multi: Any) -> list[tuple[str, str]]:
    """``headers`` and ``multiValueHeaders`` merged; for a name in both, only the latter counts."""
    single, multi = single or {}, multi or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise _Malformed
    headers: list[tuple[str, str]] = []
    for name, values in multi.items():
        if not isinstance(values, list):
            raise _Malformed
        headers.extend((name, _header_value(value)) for value in values)
    multi_names = {name.lower() for name in multi}
    headers.extend((name, _header_value(v)) for name, v in single.items() if name.lower() not in multi_names)
    return headers


def _proxy_body(body: Any, is_base64: Any) -> bytes:
    if (body is not None and not isinstance(body, str)) or not isinstance(is_base64, bool):
        raise _Malformed
    if not body:
        return b""
    try:
        return base64.b64decode(body, validate=True) if is_base64 else body.encode("utf-8")
    except ValueError as exc:
        raise _Malformed from exc


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise _Malformed


def _remap(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, value in headers:
        if name.lower() in _REMAPPED_RESPONSE_HEADERS:
            out.append((f"x-amzn-Remapped-{name}", value))
        else:
            out.append((name, value))
    if not any(name.lower() == "content-type" for name, _ in out):
        out.append(("Content-Type", "application/json"))
    return out


def gateway_error(status: int, error_type: str, message: str, response_type: str) -> Response:
    body = json.dumps({"message": message}).encode()
    return Response(
        status=status,
        headers=[("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)],
        body=body,
        refusal=Refusal(response_type, message),
    )


def missing_authentication_token() -> Response:
    message = "Missing Authentication Token"
    return gateway_error(403, "MissingAuthenticationTokenException", message, "MISSING_AUTHENTICATION_TOKEN")


def forbidden() -> Response:
    """A missing or wrong API key: one gateway response type for both, as on AWS."""
    return gateway_error(403, "ForbiddenException", "Forbidden", "INVALID_API_KEY")


def too_many_requests() -> Response:
    return gateway_error(429, "TooManyRequestsException", "Too Many Requests", "THROTTLED")


def internal_server_error() -> Response:
    # A Lambda proxy function that fails: not rewritten here (its response type is not one this
    # gateway knows for sure).
    return Response(
        status=502,
        headers=[("Content-Type", "application/json"), ("x-amzn-ErrorType", "InternalServerErrorException")],
        body=json.dumps({"message": "Internal server error"}).encode(),
    )


def request_too_large() -> Response:
    body = f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.".encode()
    return Response(status=413, headers=[("Content-Type", "text/plain")], body=body)


# --- throttling -------------------------------------------------------------------------------


@dataclass
class TokenBucket:
    """API Gateway's throttle: ``burst`` requests at once, refilled at ``rate`` a second."""

    rate: float
    burst: int
    _tokens: float | None = None
    _last: float = 0.0

    def take(self, now: float) -> bool:
        tokens = float(self.burst) if self._tokens is None else self._tokens
        tokens = min(float(self.burst), tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens = tokens - 1 if tokens >= 1 else tokens
        return tokens >= 1


@dataclass
class UsagePlan:
    """Per-key throttling (token bucket) and quota, as an API Gateway usage plan."""

    rate_limit: float
    burst_limit: int
    quota_limit: int | None = None
    quota_period_seconds: int = 86400
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _quota: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, key: str) -> Response | None:
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(key, TokenBucket(self.rate_limit, self.burst_limit))
            if not bucket.take(now):
                return too_many_requests()
            if self.quota_limit is not None:
                started, used = self._quota.get(key, (now, 0))
                if now - started >= self.quota_period_seconds:
                    started, used = now, 0
                if used >= self.quota_limit:
                    return gateway_error(429, "LimitExceededException", "Limit Exceeded", "QUOTA_EXCEEDED")
                self._quota[key] = (started, used + 1)
        return None


class MethodThrottles:
    """A stage's method throttles: one bucket per throttled method, shared by every caller.

    A setting for the method itself wins over the stage-wide one (``/*``, ``*``).
    """

    def __init__(self, throttles: Iterable[MethodThrottle]) -> None:
        self._buckets = {
            (t.resource_path, t.http_method): TokenBucket(t.rate_limit, t.burst_limit) for t in throttles
        }
        self._lock = threading.Lock()

    def check(self, route: Route) -> Response | None:
        bucket = self._buckets.get((route.path, route.method)) or self._buckets.get(("*", "*"))
        if bucket is None:
            return None
        with self._lock:
            return None if bucket.take(time.monotonic()) else too_many_requests()


# --- access log ---------------------------------------------------------------------------------

_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]*[A-Za-z0-9_])")
# The $context variables the local gateway can fill in an access log format.
ACCESS_LOG_VARIABLES = frozenset(
    {
        "apiId",
        "extendedRequestId",
        "httpMethod",
        "identity.apiKeyId",
        "identity.sourceIp",
        "path",
        "protocol",
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "resourcePath",
        "responseLatency",
        "responseLength",
        "stage",
        "status",
    }
)


def access_log_variables(log_format: str) -> set[str]:
    return set(_CONTEXT_VARIABLE.findall(log_format))


def render_access_log(log_format: str, values: Mapping[str, str | None]) -> str:
    """The format with each $context variable replaced, "-" where it has no value (as on AWS).

    Values go in as they are, unescaped, as API Gateway writes them.
    """
    return _CONTEXT_VARIABLE.sub(lambda m: values.get(m.group(1)) or "-", log_format)


# --- gateway responses --------------------------------------------------------------------------

# The $context variables the local gateway can fill in a gateway response's template.
GATEWAY_RESPONSE_VARIABLES = frozenset({"error.message", "error.messageString", "error.responseType"})


def customised(response: Response, responses: Sequence[GatewayResponse]) -> Response:
    """``response`` as the Api's GatewayResponses write it: its own type's, else DEFAULT_4XX or
    DEFAULT_5XX; an answer that is not API Gateway's own, or one no entry covers, is unchanged."""
    if response.refusal is None:
        return response
    by_type = {r.response_type: r for r in responses}
    fallback = "DEFAULT_4XX" if response.status < 500 else "DEFAULT_5XX"
    custom = by_type.get(response.refusal.response_type) or by_type.get(fallback)
    if custom is None:
        return response
    headers = [(k, v) for k, v in response.headers if k.lower() != "content-type"]
    body = response.body
    if custom.templates:
        templates = dict(custom.templates)
        content_type = "application/json" if "application/json" in templates else next(iter(templates))
        values = {
            "error.message": response.refusal.message,
            "error.messageString": json.dumps(response.refusal.message),
            "error.responseType": response.refusal.response_type,
        }
        body = _CONTEXT_VARIABLE.sub(lambda m: values[m.group(1)], templates[content_type]).encode()
        headers.append(("Content-Type", content_type))
    else:
        headers += [(k, v) for k, v in response.headers if k.lower() == "content-type"]
    # Static headers replace the answer's own of the same name (Content-Type included).
    overridden = {name.lower() for name, _ in custom.headers}
    return Response(
        status=custom.status or response.status,
        headers=[*((k, v) for k, v in headers if k.lower() not in overridden), *custom.headers],
        body=body,
        refusal=response.refusal,
    )


# --- the gateway --------------------------------------------------------------------------------


class ApiKeys(Protocol):
    """The valid API keys: each key's id by its value (a dict, or the stack's usage plan)."""

    def get(self, value: str, /) -> str | None: ...


class Firewall(Protocol):
    """A web ACL on a stage (devstack.waf): its answer to a request before API Gateway's, if any."""

    def inspect(self, request: Request, path: str) -> Response | None: ...


class ApiGateway:
    """The local REST API: routes from the template, API keys, and a function invoker."""

    def __init__(
        self,
        routes: Iterable[Route],
        apis: Mapping[str, ApiSpec],
        *,
        api_keys: ApiKeys,
        invoker: Invoker | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = DEFAULT_ACCOUNT_ID,
        usage_plan: UsagePlan | None = None,
        access_log: bool = False,
        log: Callable[[str], None] | None = None,
        firewalls: Mapping[str, Firewall] | None = None,
    ) -> None:
        """``api_keys`` gives each valid key value's key id; ``firewalls`` the web ACL on each
        API's stage, by the API's logical id. Binds the port at once."""
        self.routes = RouteTable(routes)
        self.firewalls: Mapping[str, Firewall] = dict(firewalls or {})
        self.apis = dict(apis)
        self.api_keys = api_keys
        self.invoker = invoker
        self.account_id = account_id
        self.usage_plan = usage_plan
        self.access_log = access_log
        self._log = log or print_line
        self.method_throttles = {name: MethodThrottles(a.method_throttles) for name, a in self.apis.items()}
        for name, api in self.apis.items():
            unknown = access_log_variables(api.access_log_format or "") - ACCESS_LOG_VARIABLES
            if unknown:
                raise ValueError(f"{name}: the local gateway cannot log {sorted(unknown)}")
            for custom in api.gateway_responses:
                for _, template in custom.templates:
                    unknown = access_log_variables(template) - GATEWAY_RESPONSE_VARIABLES
                    if unknown:
                        raise ValueError(
                            f"{name}: the local gateway cannot fill {sorted(unknown)} "
                            f"in GatewayResponses.{custom.response_type}"
                        )
        # Where a request that matches no route is logged: the API, when there is only one.
        self._only_api = next(iter(self.apis.values())) if len(self.apis) == 1 else None
        self._server = _Server((host, port), _handler_class(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        if self.invoker is None:
            raise RuntimeError("the gateway needs an invoker before it starts")
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="api-gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def handle(self, request: Request, *, oversized: bool = False) -> tuple[Response, str, str | None]:
        """Answer one request; also return the request id and the function called (if any).

        ``oversized``: the body was over the limit and never read.
        """
        started, now = time.perf_counter(), datetime.now(UTC)
        request_id = str(uuid.uuid4())
        extended_id = base64.b64encode(secrets.token_bytes(12)).decode()[:15] + "="
        if oversized:
            outcome = _Outcome(request_too_large())
        else:
            outcome = self._dispatch(request, request_id, extended_id, now)
        api = self.apis[outcome.route.api] if outcome.route else self._only_api
        response = self.customised(outcome.response, api)
        response.headers.append(("x-amzn-RequestId", request_id))
        response.headers.append(("x-amz-apigw-id", extended_id))
        if self.access_log and api is not None and api.access_log_format:
            values = {
                "apiId": api.rest_api_id,
                "extendedRequestId": extended_id,
                "httpMethod": request.method,
                "identity.apiKeyId": outcome.api_key_id,
                "identity.sourceIp": request.source_ip,
                "path": f"/{api.stage}{urlsplit(request.target).path}",
                "protocol": request.protocol,
                "requestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": str(int(now.timestamp() * 1000)),
                "resourcePath": outcome.route.path if outcome.route else None,
                "responseLatency": str(round((time.perf_counter() - started) * 1000)),
                "responseLength": str(len(response.body)),
                "stage": api.stage,
                "status": str(response.status),
            }
            self._log(f"[api] {render_access_log(api.access_log_format, values)}")
        return response, request_id, outcome.function

    def customised(self, response: Response, api: ApiSpec | None) -> Response:
        """API Gateway's own answer as ``api`` (the only one, when no route said which) writes it."""
        api = api or self._only_api
        return customised(response, api.gateway_responses) if api is not None else response

    def _dispatch(self, request: Request, request_id: str, extended_id: str, now: datetime) -> _Outcome:
        path = urlsplit(request.target).path or "/"
        match = self.routes.match(request.method, path)
        route = match.route if match is not None else None
        blocked = self._firewall(request, route, path)
        if blocked is not None:
            return _Outcome(blocked, route=route)
        if match is None or route is None:
            return _Outcome(missing_authentication_token())
        api = self.apis[route.api]
        key_identity, refusal = self._admit(route, request)
        key_id = key_identity[1] if key_identity else None
        if refusal is not None:
            return _Outcome(refusal, route=route, api_key_id=key_id)
        trace_id = _header(request.headers, "x-amzn-trace-id")
        headers = list(request.headers)
        if trace_id is None:
            trace_id = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
            headers.append(("X-Amzn-Trace-Id", trace_id))
        forwarded = _header(request.headers, "x-forwarded-for")
        headers = [
            (k, v)
            for k, v in headers
            if k.lower() not in ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto")
        ]
        headers.append(
            ("X-Forwarded-For", f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip)
        )
        headers.append(("X-Forwarded-Port", str(self.port)))
        headers.append(("X-Forwarded-Proto", "http"))
        event = build_event(
            Request(
                request.method, request.target, headers, request.body, request.source_ip, request.protocol
            ),
            match,
            api,
            request_id=request_id,
            extended_request_id=extended_id,
            api_key=key_identity,
            account_id=self.account_id,
            now=now,
        )
        assert self.invoker is not None
        invocation = self.invoker.invoke(route.function, event)
        if not invocation.ok:
            error = invocation.error or {}
            self._log(
                f"[api] {request.method} {route.path} -> {route.function} failed: "
                f"{error.get('errorType')}: {error.get('errorMessage')}"
            )
            return _Outcome(internal_server_error(), route.function, route, key_id)
        response = proxy_response(invocation.payload)
        if response is None:
            self._log(
                f"[api] {request.method} {route.path} -> {route.function}: Malformed Lambda proxy response"
            )
            return _Outcome(internal_server_error(), route.function, route, key_id)
        response.headers.append(("X-Amzn-Trace-Id", trace_id))
        return _Outcome(response, route.function, route, key_id)

    def _firewall(self, request: Request, route: Route | None, path: str) -> Response | None:
        """The answer of the web ACL on the stage, if it has one and blocks the request: WAF sees
        every request to the stage before API Gateway does, the path with the stage first."""
        api = self.apis[route.api] if route is not None else self._only_api
        firewall = self.firewalls.get(api.logical_id) if api is not None else None
        if api is None or firewall is None:
            return None
        return firewall.inspect(request, f"/{api.stage}{path}")

    def _admit(self, route: Route, request: Request) -> tuple[tuple[str, str] | None, Response | None]:
        """(key, key id) of an accepted key, and API Gateway's refusal if it refuses the request:
        the API key and its usage plan, then the stage's method throttle, then the size limit."""
        key_identity, refusal = self._check_api_key(route, request)
        if refusal is None:
            refusal = self.method_throttles[route.api].check(route)
        if refusal is None and len(request.body) > MAX_BODY_BYTES:
            refusal = request_too_large()
        return key_identity, refusal

    def _check_api_key(
        self, route: Route, request: Request
    ) -> tuple[tuple[str, str] | None, Response | None]:
        """(key, key id) when the route needs a key and has a valid one; API Gateway's refusal when
        the key is missing or wrong, or its usage plan refuses it."""
        if not route.api_key_required:
            return None, None
        key = _header(request.headers, "x-api-key")
        key_id = self.api_keys.get(key) if key else None
        if key is None or key_id is None:
            return None, forbidden()
        return (key, key_id), self.usage_plan.check(key) if self.usage_plan else None


@dataclass
class _Outcome:
    response: Response
    function: str | None = None  # the function called
    route: Route | None = None
    api_key_id: str | None = None  # the key's id, once the key was accepted


class _Unframed(Exception):
    """A request whose body's end cannot be told (a Content-Length or chunk size that is no number)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away is not the stack's problem


def _handler_class(gateway: ApiGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 120  # idle keep-alive connections
        server_version = "devstack-apigateway"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            body = self._read_body()
            request = Request(
                method=self.command,
                target=_origin_form(self.path),
                headers=list(self.headers.items()),
                body=body or b"",
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            if body is None:
                self.close_connection = True
            response, _, _ = gateway.handle(request, oversized=body is None)
            self._write(response)

        def _read_body(self) -> bytes | None:
            """The body; None when it is over the limit (left unread); _Unframed when where it
            ends cannot be told."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._read_chunked()
            declared = (self.headers.get("Content-Length") or "0").strip()
            if not declared.isascii() or not declared.isdigit():
                raise _Unframed
            length = int(declared)
            if length > MAX_BODY_BYTES:
                return None
            return self.rfile.read(length) if length > 0 else b""

        def _read_chunked(self) -> bytes | None:
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                try:
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise _Unframed from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)

        def _write(self, response: Response) -> None:
            self.send_response_only(response.status)
            self.send_header("Date", self.date_time_string())
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and response.body:
                self.wfile.write(response.body)

        def handle_one_request(self) -> None:
            with contextlib.suppress(ConnectionError, socket.timeout):
                try:
                    super().handle_one_request()
                except _Unframed:
                    # The next request would start somewhere in this one's body: answer, and close.
                    self.close_connection = True
                    self._write(Response(400, [("Content-Type", "text/plain")], b"Bad Request"))

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            if code != HTTPStatus.NOT_IMPLEMENTED:
                super().send_error(code, message, explain)
                return
            # A method no API Gateway method can have (TRACE, QUERY...): no resource matches it,
            # so it gets the gateway's own answer for that, not http.server's HTML page. Its body
            # is read first: the next request on the connection starts where it ends.
            if self._read_body() is None:
                self.close_connection = True
            self._write(gateway.customised(missing_authentication_token(), None))

    for method in _METHODS:
        setattr(Handler, f"do_{method}", Handler._serve)
    return Handler


def _origin_form(target: str) -> str:
    if target.startswith(("http://", "https://")):
        split = urlsplit(target)
        return split.path + (f"?{split.query}" if split.query else "")
    return target
