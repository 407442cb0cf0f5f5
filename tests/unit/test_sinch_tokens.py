"""OAuth2 token answers of any shape: a token we can put in a header with a finite lifetime, or a
TokenFailure, never an exception."""

import json
import math
import re
import time
from typing import Any

import pytest
import urllib3
from hypothesis import example, given
from hypothesis import strategies as st
from urllib3 import HTTPResponse

from sinch_gateway.sinch.credentials import SinchCredentials
from sinch_gateway.sinch.tokens import DEFAULT_LIFETIME_S, MAX_LIFETIME_S, BearerTokens, TokenFailure
from tests.strategies import json_values

CREDENTIALS = SinchCredentials.model_validate(
    {
        "auth": "oauth",
        "project_id": "p",
        "key_id": "k",
        "key_secret": "s",
        "auth_url": "http://127.0.0.1:9/oauth2/token",
        "from_number": "+12025550100",
    }
)


class OneAnswer:
    """A PoolManager stand-in that answers every request with the same response."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body

    def request(self, *_: Any, **__: Any) -> HTTPResponse:
        return HTTPResponse(body=self.body, status=self.status, headers={}, preload_content=True)


def fetch(status: int, body: bytes) -> tuple[str | TokenFailure, BearerTokens]:
    tokens = BearerTokens(OneAnswer(status, body), urllib3.Timeout(1))  # type: ignore[arg-type]
    return tokens.bearer(CREDENTIALS), tokens


JSON = json_values(max_leaves=10, max_items=3)
TOKEN_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "access_token": JSON | st.sampled_from(["eyJabc.def-_~+/==", "ab\r\nX-Evil: 1", "\u00e9", "a b"]),
        "expires_in": JSON | st.sampled_from([math.inf, -math.inf, math.nan, -5, 0, 10**400, 3599]),
    },
)


@given(
    st.integers(min_value=200, max_value=599),
    st.binary(max_size=40) | (TOKEN_SHAPED | JSON).map(lambda v: json.dumps(v).encode()),
)
@example(200, b"[" * 100_000)  # json.loads was a RecursionError
@example(200, b'{"access_token": "abc", "expires_in": 1' + b"0" * 400 + b"}")  # float() OverflowError
@example(200, b'{"access_token": "ab\\r\\nX-Evil: 1"}')  # a header injection, refused by http.client later
def test_any_token_answer_is_a_usable_token_or_a_failure(status: int, body: bytes) -> None:
    before = time.time()
    result, tokens = fetch(status, body)
    if isinstance(result, TokenFailure):
        return
    assert status == 200
    assert re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", result)  # safe in an Authorization header
    cached = tokens._cached
    assert cached is not None and cached.token == result
    assert before < cached.good_until <= time.time() + MAX_LIFETIME_S


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (3599, 3599),
        (1e400, MAX_LIFETIME_S),  # JSON's 1e400 is infinity
        (10**400, MAX_LIFETIME_S),
        (float("nan"), DEFAULT_LIFETIME_S),
        (-5, DEFAULT_LIFETIME_S),
        (0, DEFAULT_LIFETIME_S),
        ("3599", DEFAULT_LIFETIME_S),
        (True, DEFAULT_LIFETIME_S),
        (None, DEFAULT_LIFETIME_S),
    ],
)
def test_expires_in_is_trusted_only_as_a_positive_number_and_within_a_day(
    expires_in: Any, lifetime: float
) -> None:
    body = json.dumps({"access_token": "tok", "expires_in": expires_in}).encode()
    before = time.time()
    cached = fetch(200, body)[1]._cached
    assert cached is not None
    renew_early = min(60.0, lifetime / 2)
    assert before + lifetime - renew_early <= cached.good_until <= time.time() + lifetime - renew_early
