"""Unit tests of the simulator's project (OAuth2) authentication: the token issuer and its wiring."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from devstack.sinch_simulator import SinchSimulator
from devstack.sinch_simulator.config import SimConfig
from devstack.sinch_simulator.faults import FaultRule
from devstack.sinch_simulator.oauth import ProjectCredentials, TokenIssuer, TokenState
from devstack.sinch_simulator.server import injected
from devstack.sinch_simulator.xms import fault_match

PROJECT, KEY_ID, KEY_SECRET = "proj-1", "key-id", "key-secret"
FORM = {"content-type": "application/x-www-form-urlencoded"}
GRANT = b"grant_type=client_credentials"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def issuer(ttl: float = 60, clock: Clock | None = None, max_tokens: int = 100) -> TokenIssuer:
    return TokenIssuer(
        ProjectCredentials(PROJECT, KEY_ID, KEY_SECRET), lambda: ttl, clock or Clock(), max_tokens
    )


def request(
    tokens: TokenIssuer,
    *,
    method: str = "POST",
    authorization: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = GRANT,
) -> tuple[int, Any]:
    sent = {**FORM, "authorization": authorization or basic(KEY_ID, KEY_SECRET), **(headers or {})}
    response = tokens.handle(method, sent, body)
    return response.status, response.body


def test_client_credentials_get_a_bearer_token() -> None:
    status, body = request(issuer(ttl=3600))
    assert status == 200
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert (body["expires_in"], body["scope"], body["token_type"]) == (3600, "", "bearer")
    assert len(body["access_token"]) >= 32


def test_every_token_is_new_and_all_stay_valid() -> None:
    tokens = issuer()
    first, second = (request(tokens)[1]["access_token"] for _ in range(2))
    assert first != second
    assert tokens.check(first) is tokens.check(second) is TokenState.VALID


def test_expires_in_is_whole_seconds_rounded_down() -> None:
    assert request(issuer(ttl=1.9))[1]["expires_in"] == 1


@pytest.mark.parametrize(
    "authorization",
    [
        basic(KEY_ID, "wrong"),
        basic("other", KEY_SECRET),
        basic(KEY_ID, ""),
        "Basic " + base64.b64encode(KEY_ID.encode()).decode(),  # no colon
        "Basic not-base64!",
        f"Bearer {KEY_SECRET}",
        "Basic",
    ],
)
def test_bad_client_credentials_are_401_invalid_client(authorization: str) -> None:
    response = issuer().handle("POST", {**FORM, "authorization": authorization}, GRANT)
    assert response.status == 401
    assert response.body["error"] == "invalid_client" and response.body["error_description"]
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_missing_authorization_is_401() -> None:
    assert issuer().handle("POST", FORM, GRANT).status == 401


@pytest.mark.parametrize("body", [b"", b"grant_type=password", b"grant_type=", b"scope=x"])
def test_a_wrong_or_missing_grant_type_is_400_unsupported_grant_type(body: bytes) -> None:
    status, answer = request(issuer(), body=body)
    assert (status, answer["error"]) == (400, "unsupported_grant_type")
    assert answer["error_description"]


def test_bad_credentials_are_checked_before_the_grant_type() -> None:
    status, answer = request(issuer(), authorization=basic(KEY_ID, "x"), body=b"grant_type=password")
    assert (status, answer["error"]) == (401, "invalid_client")


def test_a_json_body_is_400_invalid_request() -> None:
    headers = {"content-type": "application/json"}
    status, answer = request(issuer(), headers=headers, body=b'{"grant_type": "client_credentials"}')
    assert (status, answer["error"]) == (400, "invalid_request")


def test_other_methods_are_405() -> None:
    assert request(issuer(), method="GET")[0] == 405


def test_form_charset_and_extra_fields_are_accepted() -> None:
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert request(issuer(), headers=headers, body=b"grant_type=client_credentials&scope=")[0] == 200


def test_tokens_expire_on_the_clock_and_unknown_ones_are_unknown() -> None:
    clock = Clock()
    tokens = issuer(ttl=10, clock=clock)
    token = request(tokens)[1]["access_token"]
    clock.now += 9.99
    assert tokens.check(token) is TokenState.VALID
    clock.now += 0.01
    assert tokens.check(token) is TokenState.EXPIRED
    assert tokens.check("made-up") is TokenState.UNKNOWN


def test_the_ttl_is_read_at_each_issue() -> None:
    ttl = [100.0]
    clock = Clock()
    tokens = TokenIssuer(ProjectCredentials(PROJECT, KEY_ID, KEY_SECRET), lambda: ttl[0], clock)
    long_lived = tokens.issue()["access_token"]
    ttl[0] = 1
    short = tokens.issue()
    assert short["expires_in"] == 1
    clock.now += 2
    assert tokens.check(short["access_token"]) is TokenState.EXPIRED
    assert tokens.check(long_lived) is TokenState.VALID


def test_a_full_store_drops_expired_tokens_before_live_ones() -> None:
    clock = Clock()
    ttl = [1.0]
    tokens = TokenIssuer(ProjectCredentials(PROJECT, KEY_ID, KEY_SECRET), lambda: ttl[0], clock, 3)
    expired = tokens.issue()["access_token"]
    ttl[0] = 100
    live = [tokens.issue()["access_token"] for _ in range(2)]
    clock.now += 5
    newest = tokens.issue()["access_token"]  # full: the expired one goes
    assert tokens.check(expired) is TokenState.UNKNOWN
    assert all(tokens.check(t) is TokenState.VALID for t in [*live, newest])
    tokens.issue()  # full of live tokens: the oldest goes
    assert tokens.check(live[0]) is TokenState.UNKNOWN
    assert tokens.check(newest) is TokenState.VALID


# --- wiring: constructor, config, faults ----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project_id": PROJECT},
        {"project_id": PROJECT, "key_id": KEY_ID},
        {"key_id": KEY_ID, "key_secret": KEY_SECRET},
        {"project_id": "", "key_id": KEY_ID, "key_secret": KEY_SECRET},
        {"project_id": "local-plan", "key_id": KEY_ID, "key_secret": KEY_SECRET},
        {"project_id": PROJECT, "key_id": KEY_ID, "key_secret": KEY_SECRET, "token_ttl_s": 0},
    ],
)
def test_the_constructor_refuses_incomplete_or_clashing_project_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SinchSimulator(service_plan_id="local-plan", **kwargs)


def test_without_project_settings_there_is_no_token_issuer() -> None:
    assert SinchSimulator().tokens is None
    sim = SinchSimulator(project_id=PROJECT, key_id=KEY_ID, key_secret=KEY_SECRET, token_ttl_s=5)
    assert sim.tokens is not None and sim.tokens.project_id == PROJECT
    assert sim.tokens.issue()["expires_in"] == 5


def test_token_ttl_s_is_settable_and_shown_with_the_project_id() -> None:
    config = SimConfig("plan", "tok", None, 0.2, 0.05, None, 1024, project_id=PROJECT)
    config.update({"token_ttl_s": 0.5})
    shown = config.as_json()
    assert (shown["token_ttl_s"], shown["project_id"]) == (0.5, PROJECT)
    for bad in (0, -1, True, "1", None):
        with pytest.raises(ValueError):
            config.update({"token_ttl_s": bad})
    with pytest.raises(ValueError):
        config.update({"project_id": "other"})


def test_the_token_endpoint_is_the_oauth_fault_match() -> None:
    assert fault_match("POST", "/oauth2/token") == "oauth"
    assert fault_match("GET", "/oauth2/token") is None
    assert fault_match("POST", f"/xms/v1/{PROJECT}/batches") == "batches"


@pytest.mark.parametrize(
    "rule",
    [
        {"match": "oauth", "status": 503},
        {"match": "oauth", "delay_ms": 10},
        {"match": "oauth", "drop_connection": True},
        {"match": "oauth", "accept_then_drop": True},
        {"match": "oauth", "retry_after": 1},
    ],
)
def test_oauth_rules_take_the_request_effects(rule: dict[str, Any]) -> None:
    assert FaultRule.parse(rule).match == "oauth"


def test_oauth_rules_refuse_callback_effects() -> None:
    with pytest.raises(ValueError):
        FaultRule.parse({"match": "oauth", "final": "Failed"})


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, "temporarily_unavailable"),
        (500, "server_error"),
        (401, "invalid_client"),
        (429, "temporarily_unavailable"),
        (404, "invalid_request"),
    ],
)
def test_injected_oauth_faults_answer_oauth_errors(status: int, error: str) -> None:
    response = injected(FaultRule.parse({"match": "oauth", "status": status}))
    assert response.status == status
    assert response.body == {"error": error, "error_description": "Fault injected by the simulator"}
