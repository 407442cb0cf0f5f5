"""Project authentication: Sinch's OAuth2 token endpoint and the tokens it issued.

`POST /oauth2/token` (on auth.sinch.com at Sinch; on the simulator's own port here) takes HTTP Basic
`key_id:key_secret` and the form body `grant_type=client_credentials`, and answers a bearer token
that XMS accepts under `/xms/v1/{project_id}` until it expires.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl

from .common import Response

TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a URL path, not a secret)
FORM = "application/x-www-form-urlencoded"
# Tokens remembered (valid and expired, so an expired one is told apart from a made-up one). A long
# benchmark must not grow the simulator without bound; past this, expired tokens go first.
MAX_TOKENS = 10_000
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1

# OAuth2 error names for statuses a fault rule injects on the token endpoint (RFC 6749 §5.2, §4.1.2.1).
FAULT_ERRORS: dict[int, str] = {
    400: "invalid_request",
    401: "invalid_client",
    403: "unauthorized_client",
    429: "temporarily_unavailable",
    503: "temporarily_unavailable",
}


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    """An OAuth2 error answer: `{"error", "error_description"}` (the SDK shows error_description)."""
    return Response(
        status, {"error": error, "error_description": description}, {**_NO_STORE, **(headers or {})}
    )


def fault_error(status: int) -> str:
    return FAULT_ERRORS.get(status, "server_error" if status >= 500 else "invalid_request")


@dataclass(frozen=True)
class ProjectCredentials:
    project_id: str
    key_id: str
    key_secret: str


class TokenState(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class TokenIssuer:
    """Issues access tokens for one project and tells XMS whether a presented token is still good.

    `ttl_s` is read at each issue, so changing it (POST /_sim/config) affects new tokens only.
    """

    def __init__(
        self,
        credentials: ProjectCredentials,
        ttl_s: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.credentials = credentials
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_tokens = max_tokens
        self._lock = threading.Lock()
        self._expiry: OrderedDict[str, float] = OrderedDict()  # token → clock() it expires at

    @property
    def project_id(self) -> str:
        return self.credentials.project_id

    def handle(self, method: str, headers: Mapping[str, str], body: bytes) -> Response:
        """The token endpoint. `headers` have lower-case names."""
        if method != "POST":
            return oauth_error(405, "invalid_request", f"{method} is not allowed on {TOKEN_PATH}")
        if not self._client_ok(headers.get("authorization") or ""):
            return oauth_error(
                401,
                "invalid_client",
                "Client authentication failed: use HTTP Basic with the access key id and secret",
                {"WWW-Authenticate": 'Basic realm="sinch"'},
            )
        content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != FORM:
            return oauth_error(400, "invalid_request", f"Content-Type must be {FORM}")
        try:
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            return oauth_error(400, "invalid_request", "The body is not a valid form")
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            return oauth_error(
                400,
                "unsupported_grant_type",
                f"grant_type must be client_credentials, not {grant_type!r}",
            )
        return Response(200, self.issue(), dict(_NO_STORE))

    def issue(self) -> dict[str, Any]:
        """A fresh token, as the token endpoint answers it."""
        ttl = self._ttl_s()
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            if len(self._expiry) >= self._max_tokens:
                self._evict(now)
            self._expiry[token] = now + ttl
        # Whole seconds, rounded down: a client trusting expires_in never holds an expired token.
        return {"access_token": token, "expires_in": int(ttl), "scope": "", "token_type": "bearer"}

    def check(self, token: str) -> TokenState:
        with self._lock:
            expires = self._expiry.get(token)
        if expires is None:
            return TokenState.UNKNOWN
        return TokenState.VALID if self._clock() < expires else TokenState.EXPIRED

    def _evict(self, now: float) -> None:
        """Room for one more: expired tokens first, then the oldest issued."""
        for token in [t for t, expires in self._expiry.items() if expires <= now]:
            del self._expiry[token]
        while len(self._expiry) >= self._max_tokens:
            self._expiry.popitem(last=False)

    def _client_ok(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        key_id, colon, key_secret = decoded.partition(":")
        ok_id = _same(key_id, self.credentials.key_id)
        ok_secret = _same(key_secret, self.credentials.key_secret)
        return bool(colon) and ok_id and ok_secret
