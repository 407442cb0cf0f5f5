"""Sinch's two auth styles, chosen by the secret: service plan + API token, or project + OAuth2."""

import base64

from tests.integration.conftest import PROJECT, Env

SMS = {"to": "+12025550143", "text": "Hello from the tests"}


def sinch_calls(env: Env) -> list[tuple[str, str, int]]:
    return [
        (r["method"], r["path"], r["response"]["status"])
        for r in env.sim_call("GET", "/_sim/requests")
        if r["response"] is not None
    ]


def test_project_auth_gets_a_token_once_and_sends_on_the_project_path(env: Env) -> None:
    env.use_oauth()

    first = env.send(SMS)
    second = env.send(SMS)

    assert first[0] == second[0] == 202
    batches = f"/xms/v1/{PROJECT['project_id']}/batches"
    assert sinch_calls(env) == [
        ("POST", "/oauth2/token", 200),
        ("POST", batches, 201),
        ("POST", batches, 201),
    ]
    token_request = env.sim_call("GET", "/_sim/requests")[0]
    expected = base64.b64encode(f"{PROJECT['key_id']}:{PROJECT['key_secret']}".encode()).decode()
    headers = {k.lower(): v for k, v in token_request["headers"].items()}
    assert headers["authorization"] == f"Basic {expected}"
    assert token_request["body"] == "grant_type=client_credentials"


def test_a_401_on_project_auth_fetches_a_new_token_and_tries_once_more(env: Env) -> None:
    env.use_oauth()
    env.send(SMS)
    env.sim_call("POST", "/_sim/reset")
    env.faults({"match": "batches", "status": 401, "times": 1})

    status, body = env.send(SMS)

    assert (status, body["status"]) == (202, "submitted")
    batches = f"/xms/v1/{PROJECT['project_id']}/batches"
    assert sinch_calls(env) == [
        ("POST", batches, 401),
        ("POST", "/oauth2/token", 200),
        ("POST", batches, 201),
    ]


def test_wrong_project_keys_fail_the_message_without_reaching_xms(env: Env) -> None:
    env.use_oauth(key_id="someone-else", key_secret="not-the-secret")

    status, body = env.send(SMS)

    assert status == 502
    assert body["type"] == "/problems/sinch-misconfigured"
    assert "not-the-secret" not in str(body)
    assert {path for _, path, _ in sinch_calls(env)} == {"/oauth2/token"}


def test_an_expired_token_with_the_token_endpoint_down_is_retried_later(env: Env) -> None:
    env.use_oauth()
    env.send(SMS)  # a token is cached
    env.faults({"match": "batches", "status": 401, "times": 1}, {"match": "oauth", "status": 503, "times": 1})

    status, body = env.send(SMS)

    assert (status, body["status"]) == (202, "retrying")
    assert env.retry_queued(body["id"], wait_s=3) == {"kind": "retry", "messageId": body["id"]}
