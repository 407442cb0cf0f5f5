"""Small shared pieces: the Sinch error type, timestamps, batch ids, JSON."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

# Crockford base32: the alphabet Sinch batch ids (ULID-like, 26 chars) are written in.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Error codes for statuses that have no documented Sinch code (Sinch documents them for 400/403 only).
STATUS_CODES: dict[int, str] = {
    400: "syntax_constraint_violation",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


@dataclass(frozen=True)
class ApiRequest:
    """A request to one of the Sinch APIs, as the HTTP layer read it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names in lower case
    body: bytes


@dataclass(frozen=True)
class Response:
    """What the HTTP layer writes back: `body` is sent as JSON, or as is when it is bytes."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A Sinch-shaped error answer: HTTP status plus `{"code", "text"}`."""

    def __init__(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {text}")
        self.status = status
        self.code = code
        self.text = text
        self.headers = headers or {}

    def response(self) -> Response:
        return error_response(self.status, self.code, self.text, self.headers)


def error_response(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"code": code, "text": text}, dict(headers or {}))


def is_number(value: Any) -> bool:
    """A JSON number fit for a setting: not a bool, not NaN or infinite (JSON's 1e400), not absurd."""
    return isinstance(value, int | float) and not isinstance(value, bool) and -1e15 <= value <= 1e15


def is_http_url(value: Any) -> bool:
    """An http(s) URL with a host, and a port from 1 to 65535 if it has one."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # "http://[::1", a port that is no number or out of range
        return False


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Sinch's timestamp format: YYYY-MM-DDThh:mm:ss.SSSZ (always UTC, milliseconds)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """ISO-8601 → aware datetime; a value without an offset is taken as UTC. Raises ValueError."""
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def new_ulid() -> str:
    """26 Crockford base32 chars: 48-bit millisecond time then 80 random bits (a ULID): batch ids, nonces."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def loads_or_text(raw: bytes) -> Any:
    """Parsed JSON when it parses, else the raw text (for the request log)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        return raw.decode("utf-8", "replace")
