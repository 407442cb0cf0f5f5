"""The Sinch simulator's project (OAuth2) authentication over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from devstack.sinch_simulator import SinchSimulator
from tests.conftest import control

PLAN, TOKEN = "local-plan", "tok"
PROJECT, KEY_ID, KEY_SECRET = "local-project", "local-key-id", "local-key-secret"
TO, FROM = "+12025550143", "+12025550100"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def sim() -> Iterator[SinchSimulator]:
    simulator = SinchSimulator(
        service_plan_id=PLAN,
        api_token=TOKEN,
        project_id=PROJECT,
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        callback_delay_s=0.03,
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def _fresh(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    assert control(sim, http, "POST", "/_sim/reset")[0] == 200
    assert control(sim, http, "POST", "/_sim/config", {"rate_limit": None, "token_ttl_s": 3600})[0] == 200


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def token_request(
    sim: SinchSimulator,
    http: urllib3.PoolManager,
    *,
    key_id: str = KEY_ID,
    key_secret: str = KEY_SECRET,
    body: bytes = b"grant_type=client_credentials",
) -> urllib3.BaseHTTPResponse:
    """What the SDK sends: Basic auth and a form body (requests' data=dict)."""
    headers = {"Authorization": basic(key_id, key_secret), "Content-Type": FORM}
    return http.request("POST", sim.url + "/oauth2/token", body=body, headers=headers)


def access_token(sim: SinchSimulator, http: urllib3.PoolManager) -> str:
    resp = token_request(sim, http)
    assert resp.status == 200, resp.data
    token: str = resp.json()["access_token"]
    return token


def xms(
    sim: SinchSimulator,
    http: urllib3.PoolManager,
    method: str,
    path: str,
    body: Any = None,
    *,
    bearer: str,
    account: str = PROJECT,
) -> urllib3.BaseHTTPResponse:
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body).encode()
    return http.request(method, f"{sim.url}/xms/v1/{account}{path}", body=data, headers=headers)


def send(
    sim: SinchSimulator, http: urllib3.PoolManager, bearer: str, account: str = PROJECT
) -> urllib3.BaseHTTPResponse:
    body = {"to": [TO], "from": FROM, "body": "Hi"}
    return xms(sim, http, "POST", "/batches", body, bearer=bearer, account=account)


def set_faults(sim: SinchSimulator, http: urllib3.PoolManager, *rules: dict[str, Any]) -> None:
    status, answer = control(sim, http, "POST", "/_sim/faults", {"rules": list(rules)})
    assert status == 200, answer


# --- the token endpoint ----------------------------------------------------------------------------


def test_client_credentials_get_a_bearer_token(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    resp = token_request(sim, http)
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert (body["expires_in"], body["scope"], body["token_type"]) == (3600, "", "bearer")
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", body["access_token"])
    assert access_token(sim, http) != body["access_token"]


def test_token_requests_are_recorded(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    token = access_token(sim, http)
    (entry,) = control(sim, http, "GET", "/_sim/requests")[1]
    assert (entry["method"], entry["path"]) == ("POST", "/oauth2/token")
    assert entry["body"] == "grant_type=client_credentials"
    assert entry["headers"]["Authorization"] == basic(KEY_ID, KEY_SECRET)
    assert entry["response"]["status"] == 200 and entry["response"]["body"]["access_token"] == token


@pytest.mark.parametrize(("key_id", "key_secret"), [(KEY_ID, "wrong"), ("other", KEY_SECRET)])
def test_bad_client_credentials_are_401_invalid_client(
    sim: SinchSimulator, http: urllib3.PoolManager, key_id: str, key_secret: str
) -> None:
    resp = token_request(sim, http, key_id=key_id, key_secret=key_secret)
    assert resp.status == 401
    assert resp.json()["error"] == "invalid_client" and resp.json()["error_description"]
    resp = http.request("POST", sim.url + "/oauth2/token", body=b"grant_type=client_credentials")
    assert (resp.status, resp.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("body", [b"grant_type=authorization_code", b""])
def test_a_wrong_or_missing_grant_type_is_400(
    sim: SinchSimulator, http: urllib3.PoolManager, body: bytes
) -> None:
    resp = token_request(sim, http, body=body)
    assert resp.status == 400
    assert resp.json()["error"] == "unsupported_grant_type" and resp.json()["error_description"]


# --- XMS with a project token -----------------------------------------------------------------------


def test_a_batch_sent_with_a_project_token_on_the_project_path(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    token = access_token(sim, http)
    resp = send(sim, http, token)
    assert resp.status == 201, resp.data
    batch = resp.json()
    assert batch["to"] == [TO] and batch["from"] == FROM
    found = xms(sim, http, "GET", f"/batches/{batch['id']}", bearer=token)
    assert found.status == 200 and found.json()["id"] == batch["id"]
    # One account behind both paths: the service plan sees the same batch with its API token.
    assert xms(sim, http, "GET", f"/batches/{batch['id']}", bearer=TOKEN, account=PLAN).status == 200
    entries = control(sim, http, "GET", "/_sim/requests")[1]
    assert [e["path"] for e in entries][-3:-1] == [
        f"/xms/v1/{PROJECT}/batches",
        f"/xms/v1/{PROJECT}/batches/{batch['id']}",
    ]


def test_an_expired_token_is_401_saying_expired_and_a_new_one_works(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    assert control(sim, http, "POST", "/_sim/config", {"token_ttl_s": 0.3})[1]["token_ttl_s"] == 0.3
    token = access_token(sim, http)
    assert send(sim, http, token).status == 201
    time.sleep(0.4)
    resp = send(sim, http, token)
    assert resp.status == 401 and resp.json()["code"] == "unauthorized"
    challenge = resp.headers["WWW-Authenticate"]
    assert "expired" in challenge and 'error="invalid_token"' in challenge
    # What the SDK does on that challenge: a new token, and the same request again.
    assert send(sim, http, access_token(sim, http)).status == 201


def test_the_ttl_applies_to_tokens_issued_after_it_is_set(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    long_lived = access_token(sim, http)
    control(sim, http, "POST", "/_sim/config", {"token_ttl_s": 0.2})
    short = token_request(sim, http).json()
    assert short["expires_in"] == 0
    time.sleep(0.3)
    assert send(sim, http, short["access_token"]).status == 401
    assert send(sim, http, long_lived).status == 201


@pytest.mark.parametrize("authorization", ["Bearer made-up-token", None, f"Basic {TOKEN}"])
def test_unknown_or_missing_tokens_are_401_without_expired(
    sim: SinchSimulator, http: urllib3.PoolManager, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"} | (
        {"Authorization": authorization} if authorization else {}
    )
    resp = http.request("GET", f"{sim.url}/xms/v1/{PROJECT}/batches", headers=headers)
    assert resp.status == 401 and resp.json()["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "expired" not in resp.headers["WWW-Authenticate"]


def test_tokens_and_paths_do_not_cross(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    token = access_token(sim, http)
    on_plan = send(sim, http, token, account=PLAN)  # a project token on the service-plan path
    assert on_plan.status == 401 and on_plan.json()["code"] == "unauthorized"
    on_project = send(sim, http, TOKEN, account=PROJECT)  # the API token on the project path
    assert on_project.status == 401 and "expired" not in on_project.headers["WWW-Authenticate"]
    assert send(sim, http, token, account="other-project").status == 401
    assert send(sim, http, TOKEN, account=PLAN).status == 201  # the service plan's own way still works
    assert send(sim, http, token, account=PROJECT).status == 201


def test_reset_keeps_issued_tokens(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    token = access_token(sim, http)
    control(sim, http, "POST", "/_sim/reset")
    assert send(sim, http, token).status == 201


def test_config_shows_the_project_and_the_ttl(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    shown = control(sim, http, "GET", "/_sim/config")[1]
    assert (shown["project_id"], shown["token_ttl_s"]) == (PROJECT, 3600)
    assert KEY_SECRET not in json.dumps(shown)
    assert control(sim, http, "POST", "/_sim/config", {"token_ttl_s": 0})[0] == 400


# --- faults on the token endpoint --------------------------------------------------------------------


def test_oauth_status_faults_answer_oauth_errors(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "oauth", "status": 503, "retry_after": 1, "times": 1})
    resp = token_request(sim, http)
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert resp.json() == {
        "error": "temporarily_unavailable",
        "error_description": "Fault injected by the simulator",
    }
    token = access_token(sim, http)
    assert send(sim, http, token).status == 201  # an oauth rule leaves XMS alone
    entries = control(sim, http, "GET", "/_sim/requests")[1]
    assert [e["response"]["status"] for e in entries] == [503, 200, 201]


def test_oauth_delay_and_drop_faults(sim: SinchSimulator, http: urllib3.PoolManager) -> None:
    set_faults(sim, http, {"match": "oauth", "delay_ms": 300, "times": 1})
    start = time.monotonic()
    assert token_request(sim, http).status == 200
    assert time.monotonic() - start >= 0.3
    set_faults(sim, http, {"match": "oauth", "drop_connection": True, "times": 1})
    with pytest.raises(urllib3.exceptions.ProtocolError):
        token_request(sim, http)
    assert token_request(sim, http).status == 200


def test_request_faults_for_xms_leave_the_token_endpoint_alone(
    sim: SinchSimulator, http: urllib3.PoolManager
) -> None:
    set_faults(sim, http, {"match": "batches", "status": 500})
    token = access_token(sim, http)
    assert send(sim, http, token).status == 500


# --- without project settings, and from the command line -------------------------------------------


def test_without_project_settings_there_is_no_token_endpoint(http: urllib3.PoolManager) -> None:
    with SinchSimulator() as plain:
        resp = token_request(plain, http)
        assert resp.status == 404 and resp.json()["code"] == "not_found"
        assert plain.config.as_json()["project_id"] is None


def test_runs_alone_with_project_auth_from_the_command_line() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.sinch_simulator",
            "--port",
            "0",
            "--project-id",
            "p1",
            "--key-id",
            "k",
            "--key-secret",
            "s",
            "--token-ttl-s",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url and "/xms/v1/p1" in line, line
        pool = urllib3.PoolManager(retries=False, timeout=5)
        answer = pool.request(
            "POST",
            url.group(0) + "/oauth2/token",
            body=b"grant_type=client_credentials",
            headers={"Authorization": basic("k", "s"), "Content-Type": FORM},
        ).json()
        assert answer["expires_in"] == 60
        resp = pool.request(
            "GET",
            url.group(0) + "/xms/v1/p1/batches",
            headers={"Authorization": f"Bearer {answer['access_token']}"},
        )
        assert resp.status == 200
        pool.clear()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        if proc.stdout is not None:
            proc.stdout.close()
