"""No unbounded message, through a local stack of its own (MaxMessageAgeSeconds of seconds, not a
day; the session's stack keeps the default): Sinch answering 429 for longer than a message may
wait ends it `failed`/`too_old` with one folded `retrying` event and nothing sent, another such
message is cancelled while it retries, and the give-up is logged at ERROR and parked on the DLQ."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import aws
from devstack.bench_bounded import short_lived_stack
from devstack.dynamodb_limits import item_size
from tests.e2e.conftest import FINAL, LocalStack

MAX_AGE_S = 12
TOO_MANY_REQUESTS = {"match": "batches", "status": 429, "retry_after": 1}


@pytest.fixture(scope="module")
def short_lived() -> Iterator[tuple[LocalStack, dict[str, Any]]]:
    """A stack whose messages may wait MAX_AGE_S to be handed to Sinch."""
    with (
        tempfile.TemporaryDirectory(prefix="bounded-") as state_dir,
        short_lived_stack(MAX_AGE_S, Path(state_dir)) as stack,
    ):
        state = stack.state()
        yield LocalStack(state, Path(state_dir)), state


def until(check: Any, what: str, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        time.sleep(0.2)
    return found


def message(local: LocalStack, message_id: str) -> dict[str, Any]:
    answer = local.api("GET", f"/v1/messages/{message_id}")
    assert answer.status == 200, answer.body
    return dict(answer.body)


def test_sinch_answering_429_past_the_max_age_ends_the_message_too_old_and_nothing_is_sent(
    short_lived: tuple[LocalStack, dict[str, Any]],
) -> None:
    local, state = short_lived
    local.sim("POST", "/_sim/reset")
    local.sim("POST", "/_sim/faults", {"rules": [TOO_MANY_REQUESTS]})
    started = time.monotonic()
    sent = local.api("POST", "/v1/messages", {"to": "+12025550143", "text": "Sale ends today"})
    assert (sent.status, sent.body["status"]) == (202, "retrying"), sent.body
    doomed = sent.body["id"]
    kept = local.api("POST", "/v1/messages", {"to": "+12025550144", "text": "Cancel me"}).body["id"]

    # The second one is cancelled while it retries, before its age runs out.
    until(lambda: (message(local, kept)["events"][1].get("count") or 0) >= 2, "second retry")
    cancel = until(
        lambda: (a := local.api("DELETE", f"/v1/messages/{kept}")).status != 409 and a,
        "cancel not refused as being sent right now",
    )
    assert (cancel.status, cancel.body["status"]) == (200, "cancelled"), cancel.body

    ended = until(lambda: (m := message(local, doomed))["status"] in FINAL and m, "final status")
    waited_s = time.monotonic() - started

    assert (ended["status"], ended["error"]["code"], ended["attempts"]) == ("failed", "too_old", 0), ended
    assert ended["error"]["text"] == (
        f"not sent: Sinch did not take it within {MAX_AGE_S} s of when it was due (last error: rate_limited)"
    )
    accepted, retrying, failed = ended["events"]
    assert (accepted["status"], failed["status"], failed["code"]) == ("accepted", "failed", "too_old")
    assert (retrying["status"], retrying["code"]) == ("retrying", "rate_limited")
    assert retrying["count"] >= 3 and retrying["lastAt"] > retrying["at"], retrying
    assert MAX_AGE_S <= waited_s < MAX_AGE_S + 30, waited_s
    # Nothing sent: every call that reached Sinch was one it answered 429.
    answers = [
        r["response"]["status"] for r in local.sim("GET", "/_sim/requests") if r["path"].endswith("/batches")
    ]
    assert len(answers) >= 3 and set(answers) == {429}, answers
    assert "sinchId" not in ended or ended["sinchId"] is None
    db = aws.client("dynamodb", state["aws_endpoint_url"], state["region"])
    item = db.get_item(TableName=state["messages_table"], Key={"id": {"S": doomed}})["Item"]
    print(f"{retrying['count']} retries: {item_size(item)} bytes stored")  # with -s: this run's figure
    assert item_size(item) < 2000

    # The give-up is logged at ERROR with its reason, and parked on the DeadLetterQueue.
    log = Path(state["logs_dir"]) / "QueueFunction.log"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"level"')]
    assert any(
        (line["level"], line["message"], line.get("reason"))
        == ("ERROR", "giving up on the message", "too_old")
        and line.get("message_id") == doomed
        for line in lines
    )
    sqs = aws.client("sqs", state["aws_endpoint_url"], state["region"])
    parked = sqs.receive_message(
        QueueUrl=state["dead_letter_queue_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    reasons = {
        m["MessageAttributes"]["messageId"]["StringValue"]: json.loads(m["Body"])["reason"] for m in parked
    }
    assert reasons == {doomed: "too_old"}
