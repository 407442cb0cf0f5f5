"""Delivery-report webhooks: who may post them (HMAC or Basic auth) and that none is taken twice."""

import base64
import json
import logging
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sinch_gateway.domain.webhook_auth import signature
from tests.integration.conftest import WEBHOOK_SECRET, Env, forget_cached_secrets
from tests.integration.test_delivery_reports import report, submitted

BASIC = "sinch-callbacks:s3cret-pa55"


def signed(body: str, *, nonce: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    nonce, ts = nonce or uuid.uuid4().hex, str(timestamp or int(time.time()))
    return {
        "x-sinch-webhook-signature": signature(WEBHOOK_SECRET, body, nonce, ts),
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": ts,
    }


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def post(env: Env, body: str, headers: dict[str, str]) -> tuple[int, Any]:
    return env.api(
        "WebhookFunction",
        "POST",
        path="/v1/webhooks/sinch/delivery-reports",
        body=body,
        headers=headers,
    )


def item(env: Env, item_id: str) -> dict[str, Any] | None:
    answer = env.ddb.get_item(TableName=env.table, Key={"id": {"S": item_id}}, ConsistentRead=True)
    return answer.get("Item")


def nonces_on(env: Env, message_id: str) -> set[str]:
    """The nonces of the signed reports a message took, as stored on its item."""
    stored = item(env, message_id) or {}
    return set(stored.get("reportNonces", {}).get("SS", []))


def table(env: Env) -> list[dict[str, Any]]:
    return env.scan()


def use_basic_auth(env: Env, credentials: str = BASIC, **changes: str) -> None:
    env.set_secret(webhook_basic_auth=credentials, **changes)
    forget_cached_secrets()


# --- replays -----------------------------------------------------------------------------------


def test_a_replayed_signed_report_is_refused_and_writes_nothing(env: Env) -> None:
    message_id, batch = submitted(env)
    body = json.dumps(report(message_id, batch, "Dispatched", 401))
    headers = signed(body, nonce="01JD8Y5K3M2N4P6Q8R0S2T4V6W" + uuid.uuid4().hex[:6])
    assert post(env, body, headers)[0] == 200
    before, items = env.stored(message_id), table(env)

    status, answer = post(env, body, headers)

    assert status == 401
    assert answer["type"] == "/problems/unauthenticated"
    assert env.stored(message_id) == before  # not even a stale event
    assert table(env) == items


def test_the_nonce_is_kept_on_the_message_in_the_same_write_not_in_an_item_of_its_own(env: Env) -> None:
    message_id, batch = submitted(env)
    items = len(table(env))
    body = json.dumps(report(message_id, batch, "Delivered", 0))
    headers = signed(body)

    assert post(env, body, headers)[0] == 200

    assert nonces_on(env, message_id) == {headers["x-sinch-webhook-signature-nonce"]}
    assert len(table(env)) == items
    assert "reportNonces" not in env.stored(message_id)  # bookkeeping, not part of the API


def test_the_same_nonce_on_another_body_is_refused_too(env: Env) -> None:
    message_id, batch = submitted(env)
    nonce = uuid.uuid4().hex
    first = json.dumps(report(message_id, batch, "Dispatched", 401))
    assert post(env, first, signed(first, nonce=nonce))[0] == 200
    before = env.stored(message_id)

    second = json.dumps(report(message_id, batch, "Delivered", 0))
    assert post(env, second, signed(second, nonce=nonce))[0] == 401

    assert env.stored(message_id) == before


def test_a_replayed_late_report_is_kept_once_as_stale_then_refused(env: Env) -> None:
    message_id, batch = submitted(env)
    delivered = json.dumps(report(message_id, batch, "Delivered", 0))
    assert post(env, delivered, signed(delivered))[0] == 200
    late = json.dumps(report(message_id, batch, "Dispatched", 401))
    headers = signed(late)

    assert post(env, late, headers) == (200, {"result": "stale"})
    kept = env.stored(message_id)
    assert [e.get("stale", False) for e in kept["events"]][-1] is True
    assert headers["x-sinch-webhook-signature-nonce"] in nonces_on(env, message_id)

    assert post(env, late, headers)[0] == 401
    assert env.stored(message_id) == kept


def test_a_replayed_report_on_no_message_of_ours_is_refused_and_kept_once(env: Env) -> None:
    batch = f"01JD8Y5K3M2N4P6Q8R{uuid.uuid4().hex[:8].upper()}"  # its own: other tests keep theirs
    body = json.dumps(report(str(uuid.uuid4()), batch, "Delivered", 0))
    headers = signed(body)
    assert post(env, body, headers) == (200, {"result": "unknown_message"})
    items = table(env)
    assert sum(1 for i in items if i["id"]["S"].startswith(f"unmatched#{batch}#")) == 1

    assert post(env, body, headers)[0] == 401
    assert table(env) == items

    # Sinch resending the same report (a new nonce) is no replay: the copy is overwritten.
    assert post(env, body, signed(body)) == (200, {"result": "unknown_message"})
    assert sum(1 for i in table(env) if i["id"]["S"].startswith(f"unmatched#{batch}#")) == 1


def test_a_malformed_report_leaves_no_nonce_behind(env: Env) -> None:
    message_id, batch = submitted(env)
    body = json.dumps(report(message_id, batch, "Delivered", 0, type="recipient_delivery_report_fax"))
    headers = signed(body)

    assert post(env, body, headers)[0] == 400
    assert nonces_on(env, message_id) == set()


def test_a_report_that_failed_with_a_5xx_may_come_again_unchanged(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id, batch = submitted(env)
    body = json.dumps(report(message_id, batch, "Delivered", 0))
    headers = signed(body)
    env.handler("WebhookFunction")
    intake = env.modules["WebhookFunction"].services.report_intake

    def unavailable(*_: Any, **__: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")

    with monkeypatch.context() as patch:
        patch.setattr(intake._messages, "advance", unavailable)
        assert post(env, body, headers)[0] == 500
    assert nonces_on(env, message_id) == set()

    assert post(env, body, headers) == (200, {"result": "moved"})
    assert env.stored(message_id)["status"] == "delivered"


# --- Basic auth --------------------------------------------------------------------------------


def test_basic_auth_is_accepted_when_configured(env: Env) -> None:
    message_id, batch = submitted(env)
    use_basic_auth(env)
    body = json.dumps(report(message_id, batch, "Delivered", 0))

    assert post(env, body, basic(BASIC)) == (200, {"result": "moved"})
    assert env.stored(message_id)["status"] == "delivered"


def test_basic_auth_works_without_an_hmac_secret_and_signatures_then_do_not(env: Env) -> None:
    message_id, batch = submitted(env)
    use_basic_auth(env, webhook_secret="")
    dispatched = json.dumps(report(message_id, batch, "Dispatched", 401))

    assert post(env, dispatched, signed(dispatched))[0] == 401
    assert post(env, dispatched, basic(BASIC))[0] == 200


def test_a_wrong_or_unconfigured_basic_login_is_refused_and_writes_nothing(
    env: Env, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id, batch = submitted(env)
    before = env.stored(message_id)
    body = json.dumps(report(message_id, batch, "Delivered", 0))
    for ours in ("sinch-gateway", "aws_lambda_powertools"):  # not botocore: it logs our own test setup
        caplog.set_level(logging.DEBUG, logger=ours)

    unconfigured = post(env, body, basic(BASIC))
    use_basic_auth(env)
    wrong = [post(env, body, basic(c)) for c in ("sinch-callbacks:guess", "other:s3cret-pa55", "s3cret-pa55")]
    neither = post(env, body, {})

    for status, answer in (unconfigured, *wrong, neither):
        assert status == 401
        assert answer["type"] == "/problems/unauthenticated"
        assert "s3cret" not in json.dumps(answer) and WEBHOOK_SECRET not in json.dumps(answer)
    assert env.stored(message_id) == before
    assert caplog.records
    logged = " ".join(f"{r.__dict__} {r.exc_text}" for r in caplog.records) + capsys.readouterr().out
    assert "s3cret" not in logged and WEBHOOK_SECRET not in logged


# --- the proof's headers -------------------------------------------------------------------------


def test_the_proof_is_read_from_headers_spelled_in_any_case(env: Env) -> None:
    message_id, batch = submitted(env)
    use_basic_auth(env)
    dispatched = json.dumps(report(message_id, batch, "Dispatched", 401))
    delivered = json.dumps(report(message_id, batch, "Delivered", 0))
    shouted = {name.upper(): value for name, value in signed(dispatched).items()}

    assert post(env, dispatched, shouted) == (200, {"result": "moved"})
    assert post(env, delivered, {"AUTHORIZATION": basic(BASIC)["Authorization"]}) == (
        200,
        {"result": "moved"},
    )
    assert env.stored(message_id)["status"] == "delivered"


def test_an_empty_signature_header_is_a_signature_tried_so_its_refusal_is_the_one_explained(
    env: Env,
) -> None:
    message_id, batch = submitted(env)
    use_basic_auth(env)
    body = json.dumps(report(message_id, batch, "Delivered", 0))
    wrong_basic = basic("sinch-callbacks:guess")

    tried_both = post(env, body, {**signed(body), "x-sinch-webhook-signature": "", **wrong_basic})
    basic_only = post(env, body, wrong_basic)

    assert (tried_both[0], tried_both[1]["detail"]) == (401, "The webhook call is not signed.")
    assert (basic_only[0], basic_only[1]["detail"]) == (401, "The Basic credentials do not match.")
    assert env.stored(message_id)["status"] == "submitted"
