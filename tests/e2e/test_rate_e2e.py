"""Sinch's rate through the whole local stack: messages beyond it wait in the queue (no storm of
429s, none lost or doubled), and what one delivered SMS costs in DynamoDB writes."""

from __future__ import annotations

import json
from collections import Counter

from devstack.aws_calls import read
from devstack.bench_rate import _item_kind, fresh_stack, measure_rate
from tests.e2e.conftest import LocalStack

RATE = 1.0  # below what even a busy machine pushes through the local stack
COUNT = 10


def test_messages_beyond_the_rate_wait_in_the_queue_and_none_is_lost() -> None:
    with fresh_stack(RATE) as stack:
        figures = measure_rate(stack.state(), rate_limit=RATE, count=COUNT, concurrency=8, timeout_s=240)
    print(json.dumps(figures))  # with -s: the figures of this run

    answers = figures["api_answers"]
    # A 5xx can only be the local runtime's own (a worker whose cold start outlasted the init
    # timeout on a starved machine): the client knows that request failed, and nothing was kept.
    unanswered = sum(n for status, n in answers.items() if status.isdigit() and int(status) >= 500)
    assert figures["accepted"] + unanswered == COUNT and unanswered <= 1, answers
    assert (figures["lost"], figures["doubled"]) == (0, 0), figures
    assert figures["final"] == {"delivered": figures["accepted"]}, figures
    assert figures["batches_created"] == figures["accepted"]
    # Eight clients at once against one call a second: some waited in SendQueue...
    assert answers.get("retrying", 0) > 0, answers
    # ...instead of meeting Sinch's limit. Without the shared rate most of the first eight would
    # have been 429s; a stray one when the machine stalls a sender past its slot is no storm.
    assert figures["sinch_answers"].get("429", 0) <= 2, figures["sinch_answers"]


def test_one_delivered_sms_takes_three_message_writes(local: LocalStack) -> None:
    calls_dir = local.state_dir / "aws-calls"
    before = {path.name: len(read(path)) for path in calls_dir.glob("*.jsonl")}

    answer = local.api("POST", "/v1/messages", {"to": "+12025550143", "text": "Your code is 1234"})
    assert answer.status == 202, answer.body
    assert local.wait_final(answer.body["id"])["status"] == "delivered"

    writes: Counter[str] = Counter()
    for path in calls_dir.glob("*.jsonl"):
        for call in read(path)[before.get(path.name, 0) :]:
            if call["action"] in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
                writes[_item_kind(call) if call.get("id") != answer.body["id"] else "this message"] += 1
    # Created claimed, submitted, delivered: Sinch reports only the final status.
    assert writes["this message"] == 3, writes
    # Beside it only the shared rate's turn: the report's signature nonce rides on the message's
    # own status write.
    assert writes == {"this message": 3, "rate": 1}, writes
