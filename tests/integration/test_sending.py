"""Sending: how each Sinch outcome ends, seen through the handlers and the simulator."""

import json
from datetime import UTC, datetime, timedelta

from tests.integration.conftest import API_TOKEN, Env

SMS = {"to": "+12025550143", "text": "Hello from the tests"}


def retry_body(message_id: str) -> str:
    return json.dumps({"kind": "retry", "messageId": message_id})


def test_accepted_message_is_recorded_with_sinchs_batch_id(env: Env) -> None:
    status, body = env.send(SMS)

    assert status == 202
    (request,) = env.batch_requests()
    stored = env.stored(body["id"])
    assert stored["status"] == "submitted"
    assert stored["sinchId"] == request["response"]["body"]["id"]
    assert request["body"]["from"] == "+12025550100"
    assert request["body"]["delivery_report"] == "per_recipient_final"
    assert env.retry_queued(body["id"]) is None


def test_expire_at_goes_to_sinch_and_defaults_to_three_days_after_acceptance(env: Env) -> None:
    asked = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    _, given = env.send({**SMS, "expireAt": asked.isoformat()})
    _, default = env.send(SMS)

    first, second = env.batch_requests()
    assert [r["response"]["status"] for r in (first, second)] == [201, 201], "Sinch took both"
    assert datetime.fromisoformat(first["body"]["expire_at"]) == asked
    assert datetime.fromisoformat(env.stored(given["id"])["expireAt"]) == asked
    stored = env.stored(default["id"])
    expected = datetime.fromisoformat(stored["createdAt"]) + timedelta(days=3)
    assert datetime.fromisoformat(stored["expireAt"]) == expected
    assert abs(datetime.fromisoformat(second["body"]["expire_at"]) - expected) < timedelta(milliseconds=1)


def test_a_429_waits_at_least_retry_after(env: Env) -> None:
    env.faults({"match": "batches", "status": 429, "retry_after": 2, "times": 1})

    status, body = env.send(SMS)

    assert (status, body["status"]) == (202, "retrying")
    assert env.retry_queued(body["id"], wait_s=1) is None  # not visible before Retry-After
    assert env.retry_queued(body["id"], wait_s=3) == {"kind": "retry", "messageId": body["id"]}


def test_a_timeout_is_retried_later(env: Env) -> None:
    env.faults({"match": "batches", "delay_ms": 1500, "status": 503, "times": 1})

    status, body = env.send(SMS)

    assert (status, body["status"]) == (202, "retrying")
    assert env.stored(body["id"])["events"][-1]["detail"].startswith("no_answer")
    assert env.retry_queued(body["id"], wait_s=3) == {"kind": "retry", "messageId": body["id"]}


def test_a_dropped_connection_is_retried_later(env: Env) -> None:
    env.faults({"match": "batches", "drop_connection": True, "times": 1})

    status, body = env.send(SMS)

    assert (status, body["status"]) == (202, "retrying")
    assert env.retry_queued(body["id"], wait_s=3) == {"kind": "retry", "messageId": body["id"]}


def test_after_the_last_attempt_the_message_is_failed_with_the_reason(env: Env) -> None:
    env.faults({"match": "batches", "status": 503})  # always
    _, body = env.send(SMS)

    env.consume(retry_body(body["id"]))
    env.consume(retry_body(body["id"]))  # MaxSendAttempts is 3 in these tests

    stored = env.stored(body["id"])
    assert stored["status"] == "failed"
    assert stored["attempts"] == 3
    assert stored["error"]["code"] == "retries_exhausted"
    assert "sinch_503" in stored["error"]["text"]
    assert len(env.batch_requests()) == 3
    env.drain()
    env.consume(retry_body(body["id"]))  # a late duplicate changes nothing and sends nothing
    assert len(env.batch_requests()) == 3


def test_a_rotated_token_is_picked_up_after_one_401(env: Env) -> None:
    env.set_secret(api_token="the-old-token")
    env.handler("SendFunction")  # warm
    env.modules["SendFunction"].services.credentials.get()  # the old token is now cached
    env.set_secret(api_token=API_TOKEN)

    status, body = env.send(SMS)

    assert (status, body["status"]) == (202, "submitted")
    assert [r["response"]["status"] for r in env.batch_requests()] == [401, 201]


def test_a_token_sinch_refuses_even_after_refreshing_fails_the_message(env: Env) -> None:
    env.set_secret(api_token="a-wrong-token")

    status, body = env.send(SMS)

    assert status == 502
    assert body["type"] == "/problems/sinch-misconfigured"
    assert "wrong-token" not in json.dumps(body)
    stored = env.stored(body["messageId"])
    assert (stored["status"], stored["error"]["code"]) == ("failed", "sinch_unauthorized")
    assert len(env.batch_requests()) == 2  # the first try and the one after refreshing


def test_one_bad_queue_record_neither_fails_nor_resends_the_others(env: Env) -> None:
    env.faults({"match": "batches", "status": 503, "times": 1})
    _, body = env.send(SMS)

    outcome = env.consume("not json at all", retry_body(body["id"]))

    assert outcome["result"] == {"batchItemFailures": []}  # the bad one is parked, not retried
    assert env.stored(body["id"])["status"] == "submitted"
    assert [r["response"]["status"] for r in env.batch_requests()] == [503, 201]


def test_a_queued_retry_of_a_sent_message_sends_nothing(env: Env) -> None:
    _, body = env.send(SMS)

    outcome = env.consume(retry_body(body["id"]))

    assert outcome["result"] == {"batchItemFailures": []}
    assert len(env.batch_requests()) == 1


def test_a_permanent_refusal_is_not_retried(env: Env) -> None:
    env.faults({"match": "batches", "status": 403, "times": 1})

    status, body = env.send(SMS)

    assert status == 422
    assert env.stored(body["messageId"])["status"] == "rejected"
    assert env.retry_queued(body["messageId"], wait_s=1) is None
