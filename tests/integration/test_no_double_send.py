"""A lost answer from Sinch must not turn into a second batch for the same message."""

import json

import pytest

from tests.integration.conftest import Env

SMS = {"to": "+12025550143", "text": "Hello from the tests"}


def retry_body(message_id: str) -> str:
    return json.dumps({"kind": "retry", "messageId": message_id})


@pytest.mark.parametrize(
    "fault",
    [
        {"match": "batches", "accept_then_drop": True, "times": 1},
        {"match": "batches", "delay_ms": 1500, "times": 1},
    ],  # answered after our read timeout
    ids=["accepted-then-dropped", "accepted-too-late"],
)
def test_a_batch_accepted_before_the_answer_was_lost_is_adopted_not_sent_again(
    env: Env, fault: dict[str, object]
) -> None:
    env.faults(fault)
    _, body = env.send(SMS)
    assert body["status"] == "retrying"
    # Queued for no sooner than twice the read timeout: a slow Sinch has created the batch by then.
    assert env.retry_queued(body["id"]) is None
    assert env.retry_queued(body["id"], wait_s=3) is not None

    env.consume(retry_body(body["id"]))

    posts = env.batch_requests()
    assert len(posts) == 1, "Sinch must see the batch once"
    stored = env.stored(body["id"])
    assert stored["status"] == "submitted"
    assert stored["sinchId"] == posts[0]["response"]["body"]["id"]
    lookups = [r for r in env.sim_call("GET", "/_sim/requests") if r["method"] == "GET"]
    assert [r["query"] for r in lookups] and all(body["id"] in json.dumps(r["query"]) for r in lookups)


def test_when_sinch_has_no_batch_the_retry_sends_it(env: Env) -> None:
    env.faults({"match": "batches", "drop_connection": True, "times": 1})
    _, body = env.send(SMS)

    env.consume(retry_body(body["id"]))

    assert [r["response"] and r["response"]["status"] for r in env.batch_requests()] == [None, 201]
    assert env.stored(body["id"])["status"] == "submitted"


def test_when_the_lookup_fails_nothing_is_sent_blind(env: Env) -> None:
    env.faults(
        {"match": "batches", "accept_then_drop": True, "times": 1},
        {"match": "batch_lookup", "status": 503, "times": 1},
    )
    _, body = env.send(SMS)

    env.consume(retry_body(body["id"]))

    assert len(env.batch_requests()) == 1
    assert env.stored(body["id"])["status"] == "retrying"


def test_a_retry_arriving_while_another_sender_holds_the_message_is_kept_not_dropped(env: Env) -> None:
    env.faults({"match": "batches", "status": 503, "times": 1})
    _, body = env.send(SMS)
    other_sender = env.modules["SendFunction"].services.repository
    assert other_sender.claim(body["id"], 3) is not None  # another sender, mid-send

    outcome = env.consume(retry_body(body["id"]))

    assert outcome["result"] == {"batchItemFailures": []}
    assert len(env.batch_requests()) == 1, "nothing sent while the other sender holds it"
    assert env.retry_queued(body["id"], wait_s=3) is not None, "the retry must come back"
