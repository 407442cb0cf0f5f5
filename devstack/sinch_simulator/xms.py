"""The XMS REST API under /xms/v1/{service_plan_id} (API token) and /xms/v1/{project_id} (OAuth2 token):
auth, rate limit, routes."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from .common import ApiError, ApiRequest, Response, parse_iso, utcnow
from .config import SimConfig
from .delivery import Delivery
from .oauth import TOKEN_PATH, TokenIssuer, TokenState
from .parts import count_parts
from .ratelimit import RateLimiter
from .store import BatchStore
from .validation import parse_batch_request

PREFIX = "/xms/v1/"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 30, 100
DEFAULT_DRY_RUN_RECIPIENTS = 100
LIST_DEFAULT_WINDOW = timedelta(hours=24)  # Sinch lists the last 24 h unless start_date says otherwise


def fault_match(method: str, path: str) -> str | None:
    """The fault-rule `match` a request falls under, if any."""
    if method == "POST" and path == TOKEN_PATH:
        return "oauth"
    rest = _segments(path)
    if rest is None:
        return None
    match method, rest[1:]:
        case "POST", ["batches"]:
            return "batches"
        case "POST", ["batches", "dry_run"]:
            return "dry_run"
        case "GET", ["batches"] | ["batches", _] | ["batches", _, "delivery_report", *_]:
            return "batch_lookup"
    return None


def _segments(path: str) -> list[str] | None:
    """[service_plan_id or project_id, ...] for an XMS path, else None."""
    if not path.startswith(PREFIX):
        return None
    parts = [unquote(p) for p in path[len(PREFIX) :].strip("/").split("/")]
    return parts if parts[0] else None


class XmsApi:
    def __init__(
        self,
        config: SimConfig,
        store: BatchStore,
        delivery: Delivery,
        limiter: RateLimiter,
        tokens: TokenIssuer | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._delivery = delivery
        self._limiter = limiter
        self._tokens = tokens  # None: no project authentication

    def handle(self, req: ApiRequest) -> Response:
        try:
            return self._route(req)
        except ApiError as exc:
            return exc.response()

    def _route(self, req: ApiRequest) -> Response:
        segments = _segments(req.path)
        if segments is None:
            raise ApiError(404, "not_found", f"No such resource: {req.path}")
        account, rest = segments[0], segments[1:]  # a service plan id or a project id
        self._authorize(account, req.headers.get("authorization") or "")
        sending = (req.method, rest) == ("POST", ["batches"])
        if not sending:  # a send is counted by its recipients, once they are known
            self._limit(account, 1)
        match req.method, rest:
            case "POST", ["batches"]:
                response = self._create(account, req)
            case "GET", ["batches"]:
                response = self._list(req.query)
            case "POST", ["batches", "dry_run"]:
                response = self._dry_run(req)
            case "GET", ["batches", batch_id]:
                response = Response(200, _found(self._store.get(batch_id), "batch", batch_id))
            case "DELETE", ["batches", batch_id]:
                response = Response(200, _found(self._delivery.cancel(batch_id), "batch", batch_id))
            case "GET", ["batches", batch_id, "delivery_report"]:
                response = self._batch_report(batch_id, req.query)
            case "GET", ["batches", batch_id, "delivery_report", msisdn]:
                report = self._store.recipient_report(batch_id, msisdn)
                response = Response(200, _found(report, "delivery report", f"{batch_id}/{msisdn}"))
            case _, ["batches"] | ["batches", _] | ["batches", _, "delivery_report", *_] if len(rest) <= 4:
                raise ApiError(405, "method_not_allowed", f"{req.method} is not supported here")
            case _:
                raise ApiError(404, "not_found", f"No such resource: {req.path}")
        return response

    def _authorize(self, account: str, authorization: str) -> None:
        """The service plan's API token on its path; a live issued token on the project's path."""
        scheme, _, token = authorization.partition(" ")
        bearer, token = scheme.lower() == "bearer", token.strip()
        if self._tokens is not None and _same(account, self._tokens.project_id):
            _authorize_project(self._tokens, token if bearer else None)
            return
        plan_ok = _same(account, self._config.service_plan_id)
        if not (plan_ok and bearer and _same(token, self._config.api_token)):
            raise ApiError(401, "unauthorized", "Invalid or missing API token for this service plan")

    @staticmethod
    def _json(req: ApiRequest) -> Any:
        content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")
        try:
            return json.loads(req.body)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise ApiError(400, "syntax_invalid_json", "The request body is not valid JSON") from None

    def _limit(self, account: str, messages: int) -> None:
        if not self._limiter.allow(account, self._config.rate_limit, messages):
            raise ApiError(
                429, "too_many_requests", "Too many requests for this service plan", {"Retry-After": "1"}
            )

    def _create(self, account: str, req: ApiRequest) -> Response:
        now = utcnow()  # one clock reading: expire_at defaults to exactly created_at + 3 days
        request = parse_batch_request(self._json(req), now)
        # Sinch's limit is in messages per second: a call to 500 recipients uses 500 of them.
        self._limit(account, len(request.to))
        batch = self._store.create(request, now)
        self._delivery.schedule(batch["id"], request.send_at)
        return Response(201, batch)

    def _dry_run(self, req: ApiRequest) -> Response:
        request = parse_batch_request(self._json(req), utcnow())
        per_recipient = _bool(req.query, "per_recipient")
        limit = _int(req.query, "number_of_recipients", DEFAULT_DRY_RUN_RECIPIENTS, 0, 1000)
        details, messages = [], 0
        for msisdn in request.to:
            body = request.filled(msisdn)[0]
            parts = count_parts(body)
            count = 1 if request.is_media else parts.count
            if request.max_parts and request.truncate_concat:
                count = min(count, request.max_parts)
            messages += count
            details.append(
                {"recipient": msisdn, "body": body, "number_of_parts": count, "encoding": parts.encoding}
            )
        result: dict[str, Any] = {"number_of_recipients": len(request.to), "number_of_messages": messages}
        if per_recipient:
            result["per_recipient"] = details[:limit]
        return Response(200, result)

    def _list(self, query: Mapping[str, str]) -> Response:
        page = _int(query, "page", 0, 0, 1_000_000)
        page_size = _int(query, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        start = _date(query, "start_date") or utcnow() - LIST_DEFAULT_WINDOW
        senders = set(query["from"].split(",")) if query.get("from") else None
        count, batches = self._store.search(
            page,
            page_size,
            client_reference=query.get("client_reference"),
            senders=senders,
            start=start,
            end=_date(query, "end_date"),
        )
        return Response(200, {"count": count, "page": page, "page_size": len(batches), "batches": batches})

    def _batch_report(self, batch_id: str, query: Mapping[str, str]) -> Response:
        kind = query.get("type", "summary")
        if kind not in ("summary", "full"):
            raise ApiError(404, "not_found", f"Unknown delivery report type '{kind}'")
        statuses = set(query["status"].split(",")) if query.get("status") else None
        codes = None
        if query.get("code"):
            try:
                codes = {int(c) for c in query["code"].split(",")}
            except ValueError:
                raise ApiError(
                    400, "syntax_invalid_parameter_format", "code must be a list of integers"
                ) from None
        report = self._store.batch_report(batch_id, kind == "full", statuses, codes)
        return Response(200, _found(report, "batch", batch_id))


def _authorize_project(tokens: TokenIssuer, token: str | None) -> None:
    """RFC 6750 §3 challenges; the SDK renews its token when the challenge says "expired"."""
    state = tokens.check(token) if token else None
    if state is TokenState.VALID:
        return
    if state is TokenState.EXPIRED:
        challenge = 'Bearer error="invalid_token", error_description="expired"'
        text = "The access token has expired"
    elif state is TokenState.UNKNOWN:
        challenge = 'Bearer error="invalid_token", error_description="unknown token"'
        text = "Invalid access token for this project"
    else:
        challenge, text = "Bearer", "Missing access token for this project"
    raise ApiError(401, "unauthorized", text, {"WWW-Authenticate": challenge})


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _found(value: dict[str, Any] | None, what: str, key: str) -> dict[str, Any]:
    if value is None:
        raise ApiError(404, "not_found", f"No {what} found for {key}")
    return value


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400, "syntax_invalid_parameter_format", f"{name} must be an integer from {low} to {high}"
        )
    return int(raw)


def _bool(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise ApiError(400, "syntax_invalid_parameter_format", f"{name} must be true or false")
    return raw == "true"


def _date(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise ApiError(400, "syntax_invalid_parameter_format", f"{name} must be an ISO-8601 date") from None
