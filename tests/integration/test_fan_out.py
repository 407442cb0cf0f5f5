"""A batch's slices through QueueFunction on moto and the Sinch simulator: XMS calls for up to 1,000
recipients with each one's parameters, every recipient's message submitted, then delivered by its
own report; a slice delivered twice sends nobody twice; a cancelled batch sends nothing; a
rate-limited plan hands a slice over in several calls with another tenant's message between
them; Sinch's 5xx, 429 and lost answers; at most three item writes per recipient."""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from devstack.fictional import fictional_numbers
from sinch_gateway import config, wiring
from sinch_gateway.data import aws
from sinch_gateway.domain.batches import (
    MAX_SLICE_RECIPIENTS,
    BatchRecord,
    BatchSlice,
    BatchStatus,
    SliceRecipient,
)
from sinch_gateway.domain.content import SmsContent
from tests.integration.conftest import OTHER_TENANT, TENANT, Env
from tests.unit.fakes import FakeBatchStore

TEXT = "Hi ${name}, your code is ${code}"
MADE: list[str] = []  # the ids of the messages this module's batches may make, deleted after each test


@pytest.fixture
def batches(env: Env) -> Iterator[FakeBatchStore]:
    """The batches QueueFunction reads. Until the batch API's BatchesTable adapter is merged, an
    in-memory store stands in for it (the queue function's `batch_store`)."""
    store = FakeBatchStore()
    env.handler("QueueFunction")
    services = env.modules["QueueFunction"].services
    for cached in ("fan_out", "queue_intake"):
        services.__dict__.pop(cached, None)
    services.__dict__["batch_store"] = store
    yield store
    for cached in ("fan_out", "queue_intake", "batch_store"):
        services.__dict__.pop(cached, None)
    # The session's other tests read the table whole: thousands of messages left would slow them.
    while MADE:
        ids, MADE[:] = MADE[:25], MADE[25:]
        env.ddb.batch_write_item(
            RequestItems={env.table: [{"DeleteRequest": {"Key": {"id": {"S": i}}}} for i in ids]}
        )


def a_batch(batches: FakeBatchStore | None, n: int, **changes: Any) -> tuple[BatchRecord, list[BatchSlice]]:
    """A batch of its own (messages stay in the table between tests) of `n` fictional recipients,
    each with its own code and every other one its own name, recorded in `batches` (if any), and
    its slices as the batch API queues them."""
    batch_id = str(uuid.uuid4())
    people = [
        SliceRecipient(to, {"code": f"{i:05d}", **({"name": f"N{i}"} if i % 2 == 0 else {})})
        for i, to in enumerate(fictional_numbers(n))
    ]
    batch = BatchRecord(
        id=batch_id,
        tenant_id=TENANT,
        content=SmsContent(text=TEXT),
        recipients=n,
        refused=0,
        slices=math.ceil(n / MAX_SLICE_RECIPIENTS),
        webhook_url="http://127.0.0.1:9/v1/webhooks/sinch/delivery-reports",
        defaults={"name": "customer"},
    )
    slices = [
        BatchSlice(batch_id, TENANT, i, tuple(people[start : start + MAX_SLICE_RECIPIENTS]))
        for i, start in enumerate(range(0, n, MAX_SLICE_RECIPIENTS))
    ]
    batch = replace(batch, **changes)
    if batches is not None:
        batches.create(batch)
    MADE.extend(r.message_id(batch_id) for r in people)
    return batch, slices


def body(batch_slice: BatchSlice) -> str:
    """The slice as SendQueue carries it (data.send_queue writes it so)."""
    return json.dumps(
        {
            "kind": "slice",
            "batchId": batch_slice.batch_id,
            "tenant": batch_slice.tenant_id,
            "index": batch_slice.index,
            "recipients": [{"to": r.to, "values": dict(r.values)} for r in batch_slice.recipients],
            **({"turn": {"place": batch_slice.turn.place}} if batch_slice.turn else {}),
        }
    )


def gateway(env: Env) -> str:
    """SQS's SenderId of the gateway's own QueueFunction, which alone puts slices back."""
    return env.sender_of(json.dumps({"kind": "retry"}))


def consume(env: Env, *slices: BatchSlice) -> None:
    outcome = env.consume(*(body(s) for s in slices), sender=gateway(env))
    assert outcome["result"] == {"batchItemFailures": []}


def put_back(env: Env, wait_s: float = 5.0) -> list[dict[str, Any]]:
    """The slices on SendQueue now (taken off it), waiting up to `wait_s` for the first."""
    deadline = time.monotonic() + wait_s
    found: list[dict[str, Any]] = []
    while not found or time.monotonic() < deadline - wait_s + 0.5:
        for message in env.sqs.receive_message(QueueUrl=env.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            parsed = json.loads(message["Body"])
            if parsed.get("kind") == "slice":
                found.append(parsed)
                env.sqs.delete_message(QueueUrl=env.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return found


def messages(env: Env, slices: list[BatchSlice]) -> dict[str, dict[str, Any]]:
    repository = env.modules["QueueFunction"].services.repository
    ids = [r.message_id(s.batch_id) for s in slices for r in s.recipients]
    return {i: m.model_dump(mode="json") for i, m in repository.get_all(ids).items()}


def statuses(env: Env, slices: list[BatchSlice]) -> Counter[str]:
    return Counter(m["status"] for m in messages(env, slices).values())


def report(call: dict[str, Any], recipient: str) -> dict[str, Any]:
    """Sinch's per-recipient report on `recipient` of the call `call` (as the simulator recorded it)."""
    return {
        "type": "recipient_delivery_report_sms",
        "batch_id": call["response"]["body"]["id"],
        "recipient": recipient.removeprefix("+"),  # Sinch may drop the "+"
        "code": 0,
        "status": "Delivered",
        "at": "2026-12-08T00:00:00.000Z",
        "client_reference": call["body"]["client_reference"],
    }


def test_2500_recipients_go_in_three_calls_with_their_parameters_then_each_is_delivered(
    unpaced: Env, batches: FakeBatchStore
) -> None:
    env = unpaced
    batch, slices = a_batch(batches, 2500)

    consume(env, *slices)

    calls = env.batch_requests()
    assert len(calls) == 3 == math.ceil(2500 / 1000)
    for call, batch_slice in zip(calls, slices, strict=True):
        sent = call["body"]
        assert sent["to"] == [r.to for r in batch_slice.recipients]
        assert sent["body"] == TEXT and sent["type"] == "mt_text"
        assert set(sent["parameters"]["code"]) == {r.to for r in batch_slice.recipients}
        assert set(sent["parameters"]["name"]) == {"default"} | {
            r.to for r in batch_slice.recipients if "name" in r.values
        }
        assert sent["parameters"]["name"]["default"] == "customer"
        assert call["response"]["status"] == 201
    stored = messages(env, slices)
    assert Counter(m["status"] for m in stored.values()) == {"submitted": 2500}
    first = stored[slices[2].recipients[0].message_id(batch.id)]
    assert first["content"]["text"] == "Hi N2000, your code is 02000"
    assert first["gatewayBatchId"] == batch.id and first["batchId"] == calls[2]["response"]["body"]["id"]

    for call, batch_slice in zip(calls, slices, strict=True):
        for recipient in batch_slice.recipients:
            status, answer = env.report(report(call, recipient.to))
            assert status == 200, answer

    assert statuses(env, slices) == {"delivered": 2500}


def test_a_slice_delivered_twice_sends_nobody_twice(unpaced: Env, batches: FakeBatchStore) -> None:
    env = unpaced
    _, slices = a_batch(batches, 30)

    consume(env, slices[0])
    calls = len(env.batch_requests())
    assert calls >= 1 and statuses(env, slices) == {"submitted": 30}

    consume(env, slices[0])

    assert len(env.batch_requests()) == calls, "nobody sent twice"
    assert statuses(env, slices) == {"submitted": 30}


def test_a_cancelled_batch_ends_its_recipients_cancelled_and_sends_nothing(
    env: Env, batches: FakeBatchStore
) -> None:
    batch, slices = a_batch(batches, 12, status=BatchStatus.CANCELLED)

    consume(env, *slices)

    assert env.batch_requests() == []
    assert statuses(env, slices) == {"cancelled": 12}
    one = env.stored(slices[0].recipients[0].message_id(batch.id))
    assert [e["status"] for e in one["events"]] == ["accepted", "cancelled"]


def configured(env: Env, batches: FakeBatchStore, monkeypatch: pytest.MonkeyPatch, **environment: str) -> Env:
    """QueueFunction and SendFunction as deployed with `environment` over the suite's (for this
    test), the queue function reading `batches`."""
    settings = {**os.environ, **environment}
    queue = wiring.QueueServices(config.load(config.QueueSettings, settings))
    queue.__dict__["batch_store"] = batches
    for function, services in (
        ("QueueFunction", queue),
        ("SendFunction", wiring.SendServices(config.load(config.SendSettings, settings))),
    ):
        env.handler(function)
        monkeypatch.setattr(env.modules[function], "services", services)
    return env


@pytest.fixture
def rate_limited(env: Env, batches: FakeBatchStore, monkeypatch: pytest.MonkeyPatch) -> Env:
    """A plan of 10 calls a second shared by both functions: 5 recipients per call (half a second
    of the plan), as if deployed with SinchRatePerSecond 10."""
    return configured(env, batches, monkeypatch, SINCH_RATE_PER_S="10", SINCH_RATE_WAIT_S="1")


@pytest.fixture
def unpaced(env: Env, batches: FakeBatchStore, monkeypatch: pytest.MonkeyPatch) -> Env:
    """No shared rate (SinchRatePerSecond 0): 1,000 recipients per call."""
    return configured(env, batches, monkeypatch, SINCH_RATE_PER_S="0")


def test_a_rate_limited_plan_hands_a_slice_over_in_calls_with_another_tenants_message_between(
    rate_limited: Env, batches: FakeBatchStore
) -> None:
    env = rate_limited
    _, slices = a_batch(batches, 20)

    consume(env, slices[0])  # calls of 5 for about a second (the slice's turn), then the rest back
    status, sent = env.api(
        "SendFunction",
        "POST",
        path="/v1/messages",
        body=json.dumps({"to": "+12025550177", "text": "Another tenant's"}),
        tenant=OTHER_TENANT,
    )
    assert status == 202, sent
    rest = put_back(env)
    assert len(rest) == 1 and 0 < len(rest[0]["recipients"]) < 20
    while rest:
        env.consume(*(json.dumps(r) for r in rest), sender=gateway(env))
        rest = put_back(env, wait_s=1.0)

    calls = env.batch_requests()
    sizes = [len(c["body"]["to"]) for c in calls]
    assert all(size <= 5 for size in sizes) and sum(sizes) == 21
    other = next(i for i, c in enumerate(calls) if c["body"]["to"] == ["+12025550177"])
    assert 0 < other < len(calls) - 1, f"the other tenant's message went between the batch's calls: {sizes}"
    assert statuses(env, slices) == {"submitted": 20}


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"match": "batches", "status": 503, "times": 1}, "sinch_503"),
        ({"match": "batches", "status": 429, "retry_after": 1, "times": 1}, "rate_limited"),
    ],
    ids=["5xx", "429"],
)
def test_a_failed_call_leaves_its_recipients_retrying_and_the_slice_back_to_send_them(
    env: Env, batches: FakeBatchStore, fault: dict[str, Any], code: str
) -> None:
    env.faults(fault)
    _, slices = a_batch(batches, 8)

    consume(env, slices[0])

    assert statuses(env, slices) == {"retrying": 8}
    assert {m["errorCode"] for m in messages(env, slices).values()} == {code}
    (again,) = put_back(env)
    assert len(again["recipients"]) == 8

    env.consume(json.dumps(again), sender=gateway(env))

    assert [c["response"]["status"] for c in env.batch_requests()] == [fault["status"], 201]
    assert statuses(env, slices) == {"submitted": 8}


def test_a_call_whose_answer_was_lost_is_looked_up_and_never_sent_twice(
    env: Env, batches: FakeBatchStore
) -> None:
    env.faults({"match": "batches", "accept_then_drop": True, "times": 1})
    _, slices = a_batch(batches, 6)

    consume(env, slices[0])

    assert statuses(env, slices) == {"retrying": 6}
    (again,) = put_back(env, wait_s=5)

    env.consume(json.dumps(again), sender=gateway(env))

    assert len(env.batch_requests()) == 1, "Sinch must see the call once"
    sinch_id = env.batch_requests()[0]["response"]["body"]["id"]
    assert statuses(env, slices) == {"submitted": 6}
    assert {m["batchId"] for m in messages(env, slices).values()} == {sinch_id}


def test_each_recipient_is_written_at_most_three_times_made_handed_over_final(
    unpaced: Env, batches: FakeBatchStore
) -> None:
    env = unpaced
    batch, slices = a_batch(batches, 250)
    ids = {r.message_id(batch.id) for r in slices[0].recipients}
    writes: Counter[str] = Counter()

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        """Item writes, per message: each put or update of an item, in a transaction or not."""
        for item in items_written(model.name, params):
            if item in ids:
                writes[item] += 1

    client = aws.dynamodb()
    client.meta.events.register("provide-client-params.dynamodb.*", count)
    try:
        consume(env, slices[0])
        call = env.batch_requests()[0]
        for recipient in slices[0].recipients:
            env.report(report(call, recipient.to))
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", count)

    assert statuses(env, slices) == {"delivered": 250}
    assert set(writes) == ids
    assert max(writes.values()) == 3, writes.most_common(3)


def items_written(operation: str, params: dict[str, Any]) -> list[str]:
    """The ids of the items a DynamoDB call writes."""
    match operation:
        case "PutItem":
            return [params["Item"]["id"]["S"]]
        case "UpdateItem" | "DeleteItem":
            return [params["Key"]["id"]["S"]]
        case "TransactWriteItems":
            return [
                (action.get("Item") or action.get("Key"))["id"]["S"]
                for entry in params["TransactItems"]
                for action in entry.values()
            ]
        case "BatchWriteItem":
            return [
                (request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"])["id"]["S"]
                for requests in params["RequestItems"].values()
                for request in requests
            ]
    return []


def test_a_slice_from_a_tenants_publisher_is_parked_and_sends_nothing(
    env: Env, batches: FakeBatchStore
) -> None:
    _, slices = a_batch(batches, 3)

    env.consume(body(slices[0]))  # published by the tenant's PUBLISHER, not the gateway

    ((_, attributes),) = env.dead_letters()
    assert attributes["reason"].startswith("retry_not_authorized")
    assert env.batch_requests() == [] and statuses(env, slices) == {}


def test_a_malformed_slice_is_parked_with_its_reason(env: Env, batches: FakeBatchStore) -> None:
    env.consume(
        json.dumps({"kind": "slice", "batchId": str(uuid.uuid4()), "tenant": TENANT, "index": 0}),
        sender=gateway(env),
    )

    ((_, attributes),) = env.dead_letters()
    assert attributes["reason"].startswith("invalid_request: a batch's slice that cannot be read: recipients")


def test_a_slice_of_an_unknown_batch_is_parked_with_its_reason(env: Env, batches: FakeBatchStore) -> None:
    _, slices = a_batch(None, 3)

    consume(env, slices[0])

    ((_, attributes),) = env.dead_letters()
    assert attributes["reason"].startswith("unknown_batch")
    assert env.batch_requests() == []
    assert messages(env, slices) == {}
