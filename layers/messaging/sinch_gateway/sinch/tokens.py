"""Bearer tokens for Sinch: the service plan's API token, or OAuth2 access tokens, cached."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError

from sinch_gateway.credentials import SinchCredentials


@dataclass(frozen=True)
class TokenFailure:
    """No token: `transient` when asking again later may work."""

    detail: str
    transient: bool


@dataclass
class _Cached:
    key_id: str
    token: str
    good_until: float


class BearerTokens:
    def __init__(self, http: urllib3.PoolManager, timeout: urllib3.Timeout) -> None:
        self._http = http
        self._timeout = timeout
        self._cached: _Cached | None = None

    def bearer(self, credentials: SinchCredentials, *, refresh: bool = False) -> str | TokenFailure:
        if credentials.auth == "service_plan":
            assert credentials.api_token is not None  # checked when the secret was read
            return credentials.api_token.get_secret_value()
        cached = self._cached
        if not refresh and cached and cached.key_id == credentials.key_id and time.time() < cached.good_until:
            return cached.token
        return self._fetch(credentials)

    def _fetch(self, credentials: SinchCredentials) -> str | TokenFailure:
        assert credentials.key_id and credentials.key_secret
        basic = base64.b64encode(f"{credentials.key_id}:{credentials.key_secret.get_secret_value()}".encode())
        try:
            response = self._http.request(
                "POST",
                credentials.auth_url,
                body=urlencode({"grant_type": "client_credentials"}).encode(),
                headers={
                    "Authorization": f"Basic {basic.decode()}",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                timeout=self._timeout,
                retries=False,
            )
        except HTTPError as exc:
            return TokenFailure(f"token endpoint unreachable: {type(exc).__name__}", transient=True)
        if response.status != 200:
            return TokenFailure(
                f"token endpoint answered {response.status}",
                transient=response.status == 429 or response.status >= 500,
            )
        try:
            data = json.loads(response.data)
            token, lifetime = str(data["access_token"]), float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            return TokenFailure("token endpoint answered without an access token", transient=True)
        # Renew a little early, so a token never expires between our check and Sinch's.
        self._cached = _Cached(credentials.key_id, token, time.time() + lifetime - min(60.0, lifetime / 2))
        return token
