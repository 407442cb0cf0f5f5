"""Bearer tokens for Sinch: the service plan's API token, or OAuth2 access tokens, cached."""

from __future__ import annotations

import base64
import math
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import urllib3
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from urllib3.exceptions import HTTPError

from sinch_gateway.sinch.credentials import SinchCredentials


@dataclass(frozen=True)
class TokenFailure:
    """No token: `transient` when asking again later may work."""

    detail: str
    transient: bool


DEFAULT_LIFETIME_S = 3600.0
# Sinch's tokens live an hour; trusting a longer lifetime only delays the 401 that renews one.
MAX_LIFETIME_S = 24 * 60 * 60.0


def _lifetime(expires_in: Any) -> float:
    """Sinch's expires_in as seconds, within (0, MAX_LIFETIME_S]; what is no positive number
    (absent, negative, NaN, text...) gets the default."""
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
        return DEFAULT_LIFETIME_S
    try:
        seconds = float(expires_in)
    except OverflowError:  # an integer beyond any float
        seconds = math.inf
    return min(seconds, MAX_LIFETIME_S) if seconds > 0 else DEFAULT_LIFETIME_S


class _TokenAnswer(BaseModel):
    """What we read of Sinch's token answer (`access_token`, `expires_in`): see
    https://developers.sinch.com/docs/identity-access-management/authenticate/oauth2."""

    # RFC 6750's b64token: the characters an Authorization header can carry.
    access_token: str = Field(pattern=r"^[A-Za-z0-9\-._~+/]+=*$", max_length=8192)
    expires_in: Annotated[float, BeforeValidator(_lifetime)] = DEFAULT_LIFETIME_S


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
            answer = _TokenAnswer.model_validate_json(response.data)
        except ValidationError:
            return TokenFailure("token endpoint answered without a usable access token", transient=True)
        # Renew a little early, so a token never expires between our check and Sinch's.
        lifetime = answer.expires_in
        self._cached = _Cached(
            credentials.key_id, answer.access_token, time.time() + lifetime - min(60.0, lifetime / 2)
        )
        return answer.access_token
