"""Statuses that settle, through the handlers on moto and the Sinch simulator: Sinch's delivery
reports dropped, the settle check SendQueue carries looks the message up at Sinch and applies what
Sinch says; only the gateway's own functions may ask for a check."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import API_TOKEN, PUBLISHER, Env

SMS = {"to": "+12025550143", "text": "Your parcel is out for delivery"}
DROP_REPORTS = {"match": "callbacks", "drop": True}


@pytest.fixture
def quick_sinch(env: Env) -> Iterator[Env]:
    """The simulator delivering within a moment (this suite's default is a minute)."""
    env.sim_call("POST", "/_sim/config", {"callback_delay_s": 0.05})
    yield env
    env.sim_call("POST", "/_sim/config", {"callback_delay_s": 60})


def settle_check(env: Env, message_id: str) -> dict[str, Any]:
    found = env.retry_queued(message_id, wait_s=5, kind="settle")  # ReportGraceSeconds is 2 here
    assert found is not None and found["kind"] == "settle", found
    return found


def at_sinch(env: Env, batch_id: str, status: str) -> bool:
    """Whether Sinch's own lookup shows the recipient at `status`."""
    path = f"/xms/v1/local-plan/batches/{batch_id}/delivery_report/12025550143"
    answer = env.http.request("GET", env.sim.url + path, headers={"Authorization": f"Bearer {API_TOKEN}"})
    return answer.status == 200 and json.loads(answer.data)["status"] == status


def lookups(env: Env) -> list[dict[str, Any]]:
    return [r for r in env.sim_call("GET", "/_sim/requests") if "/delivery_report/" in r["path"]]


def test_sinch_taking_a_message_queues_its_settle_check(env: Env) -> None:
    _, body = env.send(SMS)

    started = time.monotonic()
    assert env.retry_queued(body["id"], kind="settle") is None, "not before the grace"

    assert settle_check(env, body["id"]) == {"kind": "settle", "messageId": body["id"]}
    assert time.monotonic() - started >= 1.5


def test_with_its_reports_dropped_the_lookup_finds_the_message_delivered(quick_sinch: Env) -> None:
    env = quick_sinch
    env.faults(DROP_REPORTS)
    _, body = env.send(SMS)
    settle_check(env, body["id"])
    batch_id = env.stored(body["id"])["sinchId"]
    deadline = time.monotonic() + 20
    while not at_sinch(env, batch_id, "Delivered"):
        assert time.monotonic() < deadline, "the simulator never delivered it"
        time.sleep(0.05)
    assert env.stored(body["id"])["status"] == "submitted", "no report came"
    asked_before = len(lookups(env))

    outcome = env.consume(json.dumps({"kind": "settle", "messageId": body["id"]}))

    assert outcome["result"] == {"batchItemFailures": []}
    message = env.stored(body["id"])
    assert message["status"] == "delivered"
    assert message["events"][-1]["detail"].startswith("looked up at Sinch")
    assert [r["response"]["status"] for r in lookups(env)[asked_before:]] == [200], "one lookup"
    assert env.retry_queued(body["id"], wait_s=3, kind="settle") is None, "final: checked no more"


def test_a_message_still_queued_at_sinch_moves_on_and_is_checked_again(env: Env) -> None:
    _, body = env.send(SMS)  # the simulator of this suite holds it Queued for a minute
    settle_check(env, body["id"])

    env.consume(json.dumps({"kind": "settle", "messageId": body["id"]}))

    assert env.stored(body["id"])["status"] == "queued"
    assert settle_check(env, body["id"])["messageId"] == body["id"]


def test_a_settle_check_from_anyone_but_the_gateway_is_parked_and_looks_nothing_up(env: Env) -> None:
    _, body = env.send(SMS)
    settle_check(env, body["id"])

    env.consume(json.dumps({"kind": "settle", "messageId": body["id"]}), sender=PUBLISHER)

    # The DeadLetterQueue is the session's: only what names this message is this test's.
    ((_, attributes),) = [(parked, a) for parked, a in env.dead_letters() if body["id"] in parked]
    assert attributes["reason"].startswith("retry_not_authorized")
    assert lookups(env) == []
    assert env.stored(body["id"])["status"] == "submitted"
