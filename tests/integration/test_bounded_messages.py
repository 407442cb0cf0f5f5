"""No unbounded message, on moto (which refuses an item over 400 KB as DynamoDB does, see
devstack.dynamodb_limits): repeated events fold under concurrent writers, thousands of retries
keep an item under the stated bound, a message retried that long can still be cancelled, and a
message Sinch keeps refusing with 429 ends `too_old` through QueueFunction."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from devstack import aws
from devstack.callback_receiver import CallbackReceiver
from devstack.dynamodb_limits import MAX_ITEM_BYTES, item_size
from devstack.moto_server import MotoServer
from sinch_gateway.data.messages import MessageRepository, message_item, to_item
from sinch_gateway.domain.content import SmsContent
from sinch_gateway.domain.message import (
    ITEM_BOUND_BYTES,
    MAX_EVENTS,
    Change,
    MessageRecord,
    StatusEvent,
    utcnow,
)
from sinch_gateway.domain.status import Status, Transition
from tests.devstack.test_moto_server import hash_keyed_table
from tests.integration.conftest import TENANT, Env
from tests.integration.test_status_callbacks import (  # noqa: F401 - invoker and tenant are fixtures
    InProcess,
    invoker,
    sent_with_callback,
    tenant,
    wait_for,
)

SMS = {"to": "+12025550143", "text": "Hello"}
TOO_MANY_REQUESTS = {"match": "batches", "status": 429, "retry_after": 1}


@pytest.fixture(scope="module")
def serial_moto() -> Iterator[str]:
    """The local stack's moto: requests served one at a time, as DynamoDB serialises an item's
    writes (moto on its own is not safe under concurrent requests)."""
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    hash_keyed_table(aws.client("dynamodb", endpoint, "us-east-1"), "messages")
    yield endpoint
    server.stop()


def new_message(repository: MessageRepository) -> MessageRecord:
    record = MessageRecord(tenant_id=TENANT, to="+12025550143", content=SmsContent(text="Hi")).expire_after(
        90
    )
    record.events.append(StatusEvent(status=Status.ACCEPTED, at=record.created_at))
    assert repository.create(record)
    return record


def stored_size(db: Any, table: str, message_id: str) -> int:
    return item_size(db.get_item(TableName=table, Key={"id": {"S": message_id}}, ConsistentRead=True)["Item"])


def test_concurrent_retries_fold_into_one_event_counting_every_one(serial_moto: str) -> None:
    db = aws.client("dynamodb", serial_moto, "us-east-1")
    repository = MessageRepository(db, "messages")
    message = new_message(repository)

    def retry(_: int) -> Transition:
        # Each writer plans after the events it read first: all but the first find them changed.
        return repository.transition(
            message.id,
            Status.RETRYING,
            code="rate_limited",
            detail="rate_limited",
            seen_events=message.events,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(retry, range(200)))

    assert set(outcomes) == {Transition.MOVED}
    record = repository.get(message.id)
    assert record is not None
    assert [(e.status, e.code, e.count) for e in record.events] == [
        (Status.ACCEPTED, None, None),
        (Status.RETRYING, "rate_limited", 200),
    ]


def test_concurrent_retries_and_stale_reports_fold_nothing_lost_and_no_repeats(serial_moto: str) -> None:
    db = aws.client("dynamodb", serial_moto, "us-east-1")
    repository = MessageRepository(db, "messages")
    message = new_message(repository)
    stale = StatusEvent(status=Status.RETRYING, at=utcnow(), code="report", stale=True)

    def write(n: int) -> tuple[str, bool]:
        if n % 3:
            moved = repository.transition(message.id, Status.RETRYING, code="sinch_503", seen_events=[])
            return "retry", moved is Transition.MOVED
        return "report", repository.append_event(message.id, stale, once=f"nonce-{n}")

    # Fewer writes than MAX_EVENTS: however they interleave, every one is kept.
    with ThreadPoolExecutor(max_workers=4) as pool:  # a sender and reports: more than ever meet
        outcomes = list(pool.map(write, range(MAX_EVENTS - 2)))

    assert all(kept for _, kept in outcomes)
    record = repository.get(message.id)
    assert record is not None
    later = record.events[1:]
    assert all(not b.repeats(a) for a, b in itertools.pairwise(later)), "a repeat was not folded"
    counted = {(e.code, bool(e.stale)): 0 for e in later}
    for e in later:
        counted[(e.code, bool(e.stale))] += e.count or 1
    assert counted == {
        ("sinch_503", False): outcomes.count(("retry", True)),
        ("report", True): outcomes.count(("report", True)),
    }


def test_over_a_thousand_retries_keep_the_item_under_the_bound_and_it_can_be_cancelled(env: Env) -> None:
    """Through the handlers: the message's first attempt meets a 429, retries are written
    after it (a run of a thousand for one reason, then reasons alternating), and the API cancels it."""
    env.faults(TOO_MANY_REQUESTS)
    status, answer = env.send(SMS)
    assert (status, answer["status"]) == (202, "retrying")
    repository = MessageRepository(env.ddb, env.table)
    seen = repository.get(answer["id"])
    assert seen is not None
    for _ in range(1000):  # what the sender does: it writes after the events its claim read
        moved = repository.transition(
            answer["id"],
            Status.RETRYING,
            code="rate_limited",
            change=Change(error_code="rate_limited"),
            seen_events=seen.events,
        )
        assert moved is Transition.MOVED
    folded_size = stored_size(env.ddb, env.table, answer["id"])
    for n in range(150):
        code = ("sinch_503", "no_answer", "rate_limited")[n % 3]
        assert (
            repository.transition(answer["id"], Status.RETRYING, code=code, detail=code) is Transition.MOVED
        )
    alternated_size = stored_size(env.ddb, env.table, answer["id"])

    # Measured sizes (the report quotes them): one folded run, then a full list of alternations.
    print(f"item size after 1001 retries for one reason: {folded_size} B; then {alternated_size} B")
    assert folded_size < 1000 and alternated_size <= ITEM_BOUND_BYTES
    status, cancelled = env.api(
        "SendFunction", "DELETE", path=f"/v1/messages/{answer['id']}", resource="/v1/messages/{id}"
    )
    assert (status, cancelled["status"]) == (200, "cancelled")
    assert len(cancelled["events"]) == MAX_EVENTS + 1
    assert cancelled["events"][1]["count"] == 1001  # the first attempt's 429 and 1000 more
    assert len(env.batch_requests()) == 1, "only the first attempt reached Sinch"


def test_a_message_refused_with_429_past_its_age_ends_too_old_and_is_not_sent(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.faults(TOO_MANY_REQUESTS)
    status, answer = env.send(SMS)
    assert (status, answer["status"]) == (202, "retrying")
    env.forget_rate()
    env.consume(json.dumps({"kind": "retry", "messageId": answer["id"]}))
    assert env.stored(answer["id"])["status"] == "retrying"
    # A day later (MaxMessageAgeSeconds is a day): its next retry finds it too old.
    day_later = utcnow() + timedelta(days=1, seconds=1)
    monkeypatch.setattr("sinch_gateway.usecases.sending.utcnow", lambda: day_later)
    env.forget_rate()

    env.consume(json.dumps({"kind": "retry", "messageId": answer["id"]}))

    message = env.stored(answer["id"])
    assert (message["status"], message["error"]["code"], message["attempts"]) == ("failed", "too_old", 0)
    assert message["error"]["text"] == (
        "not sent: Sinch did not take it within 86400 s of when it was due (last error: rate_limited)"
    )
    assert [(e["status"], e.get("code"), e.get("count")) for e in message["events"]] == [
        ("accepted", None, None),
        ("retrying", "rate_limited", 2),
        ("failed", "too_old", None),
    ]
    assert len(env.batch_requests()) == 2, "the two 429s; nothing after"
    (parked,) = env.dead_letters()
    assert (json.loads(parked[0])["reason"], parked[1]["messageId"]) == ("too_old", answer["id"])
    assert os.environ["MAX_MESSAGE_AGE_S"] == "86400", "the template's default, given to the functions"


def legacy_message(env: Env, room: int) -> str:
    """A message that met 429s for hours before events folded or texts were cut: one event per
    retry, each with a long detail, the item `room` bytes short of DynamoDB's 400 KB (so that it
    refused every write that adds more). Few, long events: moto copies an item per write, and a
    write that outlasts the client's timeout would be sent twice."""
    accepted = utcnow() - timedelta(hours=5)
    record = MessageRecord(
        tenant_id=TENANT,
        to="+12025550143",
        content=SmsContent(text="x"),
        status=Status.RETRYING,
        created_at=accepted,
        events=[StatusEvent(status=Status.ACCEPTED, at=accepted)],
    ).expire_after(90)
    item = to_item(message_item(record))
    retry = StatusEvent(status=Status.RETRYING, at=accepted, code="rate_limited").model_dump(mode="json")
    legacy = to_item({"e": {**retry, "detail": "rate_limited: " + "d" * 2000}})["e"]
    while item_size(item) + item_size({"": legacy}) < MAX_ITEM_BYTES - room:
        item["events"]["L"].append(legacy)
    item["content"]["M"]["text"]["S"] += "x" * (MAX_ITEM_BYTES - room - item_size(item))
    assert item_size(item) == MAX_ITEM_BYTES - room
    env.ddb.put_item(TableName=env.table, Item=item)
    return record.id


def test_a_message_grown_near_400_kb_before_events_folded_can_still_be_cancelled(env: Env) -> None:
    message_id = legacy_message(env, room=10)  # not even a sender's lease fits any more

    status, cancelled = env.api(
        "SendFunction", "DELETE", path=f"/v1/messages/{message_id}", resource="/v1/messages/{id}"
    )

    assert (status, cancelled["status"]) == (200, "cancelled"), cancelled
    _, retried, done = cancelled["events"]  # compacted: each run of repeats folded
    assert (retried["status"], retried["code"], done["status"]) == ("retrying", "rate_limited", "cancelled")
    assert retried["count"] > 150
    item = env.ddb.get_item(TableName=env.table, Key={"id": {"S": message_id}})["Item"]
    assert item_size({"events": item["events"]}) < 1000


def test_a_message_grown_near_400_kb_before_events_folded_is_retried_again(env: Env) -> None:
    message_id = legacy_message(env, room=40)  # a lease fits, a folded count does not
    env.faults(TOO_MANY_REQUESTS)

    outcome = env.consume(json.dumps({"kind": "retry", "messageId": message_id}))

    assert outcome["result"] == {"batchItemFailures": []}
    message = env.stored(message_id)
    assert [(e["status"], e.get("code")) for e in message["events"]] == [
        ("accepted", None),
        ("retrying", "rate_limited"),
    ]


def test_folded_retries_make_one_status_callback_through_the_stream(
    env: Env,
    tenant: str,  # noqa: F811 - the fixture imported above
    invoker: InProcess,  # noqa: F811 - as above
) -> None:
    """MessagesTable's real stream: each fold is a write, but no status change."""
    with CallbackReceiver() as receiver:
        env.faults({**TOO_MANY_REQUESTS, "times": 4})  # the first attempt and three retries
        message_id = sent_with_callback(env, tenant, receiver, "Folded")
        for _ in range(4):
            env.forget_rate()  # each 429 holds every sender off: this test is its only sender
            env.consume(json.dumps({"kind": "retry", "messageId": message_id}))

        callbacks = wait_for(receiver, message_id, "submitted")
        assert [(c["previousStatus"], c["status"], c["code"]) for c in callbacks] == [
            (None, "accepted", None),
            ("accepted", "retrying", "rate_limited"),
            ("retrying", "submitted", None),
        ]
        path = f"/v1/messages/{message_id}"
        status, message = env.api(
            "SendFunction", "GET", path=path, resource="/v1/messages/{id}", tenant=tenant
        )
        assert status == 200, message
        assert [(e["status"], e.get("count")) for e in message["events"]] == [
            ("accepted", None),
            ("retrying", 4),
            ("submitted", None),
        ]
