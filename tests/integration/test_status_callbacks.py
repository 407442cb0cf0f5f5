"""Status callbacks on moto: the real handlers, MessagesTable's real stream (read by the local
stack's stream poller, in Lambda's event shape) and the real FIFO CallbackQueue."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from devstack import aws
from devstack.callback_receiver import CallbackReceiver
from devstack.poller import SqsPoller, SqsSource
from devstack.resources import Queue, StackResources
from devstack.runtime import Invocation
from devstack.stack import stream_source
from devstack.stream_poller import StreamPoller
from sinch_gateway.data.messages import MessageRepository
from sinch_gateway.data.tenants import tenant_to_item
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.status_callbacks import signature
from sinch_gateway.domain.tenants import Tenant, TenantPolicy
from tests.integration.conftest import Env

SECRET = "integration-callback-secret"
SMS = {"to": "+12025550143", "text": "Hello"}


class InProcess:
    """The Invoker the pollers call: CallbackFunction's handler in this process; it can be told
    to fail its next invocations, as a function that dies would."""

    def __init__(self, env: Env) -> None:
        self._handler = env.handler("CallbackFunction")
        self.fail_next = 0
        self.stream_batches = 0
        self.poison: str | None = None  # a clientReference whose changes the function dies on

    def invoke(self, function: str, event: Any) -> Invocation:
        if event["Records"][0]["eventSource"] == "aws:dynamodb":
            self.stream_batches += 1
            images = [r["dynamodb"].get("NewImage") or {} for r in event["Records"]]
            if self.poison is not None and any(
                i.get("clientReference", {}).get("S") == self.poison for i in images
            ):
                return Invocation(
                    function, "r", ok=False, error={"errorType": "Crash", "errorMessage": "poison"}
                )
        if self.fail_next:
            self.fail_next -= 1
            return Invocation(function, "r", ok=False, error={"errorType": "Crash", "errorMessage": "died"})
        return Invocation(function, "r", ok=True, payload=self._handler(event))


@pytest.fixture
def tenant(env: Env) -> str:
    tenant_id = f"cb{uuid.uuid4().hex[:8]}"
    item = Tenant(tenant_id=tenant_id, name="callbacks", policy=TenantPolicy(), callback_secret=SECRET)
    env.ddb.put_item(TableName=env.tenants_table, Item=tenant_to_item(item))
    return tenant_id


@pytest.fixture
def invoker(env: Env) -> Iterator[InProcess]:
    """Both of CallbackFunction's event source mappings, running."""
    template, region = env.template, env.template.region
    invoker = InProcess(env)
    queue_url = env.sqs.get_queue_url(QueueName=template.queue_name("CallbackQueue"))["QueueUrl"]
    queue = SqsSource(
        "CallbackFunction",
        queue_url,
        template.get_att("CallbackQueue", "Arn"),
        region,
        batch_size=5,
        report_batch_item_failures=True,
    )
    # The template's mapping, bounds and on-failure destination included, as the local stack runs it.
    (mapping,) = template.stream_mappings()
    failures = template.queue_name("MessageChangesDeadLetterQueue")
    resources = StackResources(
        queues={
            "MessageChangesDeadLetterQueue": Queue(
                "MessageChangesDeadLetterQueue",
                failures,
                env.sqs.get_queue_url(QueueName=failures)["QueueUrl"],
                "",
            )
        }
    )
    stream = replace(
        stream_source(template, mapping, resources), starting_position="LATEST"
    )  # this test's writes
    pollers: list[SqsPoller | StreamPoller] = [
        SqsPoller(queue, invoker, lambda: aws.client("sqs", env.endpoint, region), log=lambda _: None),
        StreamPoller(
            stream,
            invoker,
            lambda: aws.client("dynamodbstreams", env.endpoint, region),
            sqs_client_factory=lambda: aws.client("sqs", env.endpoint, region),
            log=print,
        ),
    ]
    for poller in pollers:
        poller.start()
    yield invoker
    for poller in pollers:
        poller.stop()


def sent_with_callback(env: Env, tenant: str, receiver: CallbackReceiver, text: str) -> str:
    """An SMS through POST /v1/messages with the receiver as its statusCallbackUrl: its id."""
    body = json.dumps({**SMS, "text": text, "statusCallbackUrl": receiver.url})
    status, answer = env.api("SendFunction", "POST", path="/v1/messages", body=body, tenant=tenant)
    assert status == 202, answer
    return str(answer["id"])


def wait_for(receiver: CallbackReceiver, message_id: str, status: str) -> list[dict[str, Any]]:
    got = receiver.wait_for(lambda cs: any(c["id"] == message_id and c["status"] == status for c in cs), 20)
    return [c for c in got if c["id"] == message_id]


def test_each_status_change_is_posted_once_in_order_and_signed(
    env: Env, tenant: str, invoker: InProcess
) -> None:
    repository = MessageRepository(env.ddb, env.table)
    with CallbackReceiver() as receiver:
        message_id = sent_with_callback(env, tenant, receiver, "Hi")
        # What report intake writes: a status, a stale repeat of it, an event only, the final one.
        assert repository.transition(message_id, Status.DISPATCHED, code=401).value == "moved"
        assert repository.transition(message_id, Status.DISPATCHED, code=401).value == "stale"
        assert repository.transition(message_id, Status.DELIVERED, code=0).value == "moved"

        callbacks = wait_for(receiver, message_id, "delivered")
        assert [(c["previousStatus"], c["status"]) for c in callbacks] == [
            (None, "accepted"),
            ("accepted", "submitted"),
            ("submitted", "dispatched"),
            ("dispatched", "delivered"),
        ]
        assert [c["code"] for c in callbacks][2:] == [401, 0]
        for received in receiver.received:
            t = int(received.signature.split(",")[0].removeprefix("t="))
            assert received.signature == signature(SECRET, received.body, t)


def test_a_message_without_a_callback_url_costs_no_callback(
    env: Env, tenant: str, invoker: InProcess
) -> None:
    with CallbackReceiver() as receiver:
        plain = env.api(
            "SendFunction", "POST", path="/v1/messages", body='{"to": "+12025550143", "text": "a"}'
        )
        with_url = sent_with_callback(env, tenant, receiver, "b")
        assert plain[0] == 202
        wait_for(receiver, with_url, "submitted")
        assert {c["id"] for c in receiver.callbacks()} == {with_url}


def test_a_stream_batch_that_fails_is_taken_again_and_nothing_is_lost_or_doubled(
    env: Env, tenant: str, invoker: InProcess
) -> None:
    with CallbackReceiver() as receiver:
        invoker.fail_next = 2  # the function dies on the stream's batch (or its redelivery) twice
        message_id = sent_with_callback(env, tenant, receiver, "c")
        # A later change: FIFO puts it after anything doubled before it.
        assert MessageRepository(env.ddb, env.table).transition(message_id, Status.DELIVERED).value == "moved"
        callbacks = wait_for(receiver, message_id, "delivered")
        assert [c["status"] for c in callbacks] == ["accepted", "submitted", "delivered"]
        assert invoker.fail_next == 0


def test_a_change_the_function_keeps_failing_on_is_parked_and_the_stream_goes_on(
    env: Env, tenant: str, invoker: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "devstack.stream_poller.MAX_RETRY_PAUSE_S", 0.05
    )  # the retries' pauses, not their count
    failures = env.sqs.get_queue_url(QueueName=env.template.queue_name("MessageChangesDeadLetterQueue"))[
        "QueueUrl"
    ]
    env.sqs.purge_queue(QueueUrl=failures)
    invoker.poison = "poisoned"
    with CallbackReceiver() as receiver:
        body = json.dumps({**SMS, "clientReference": "poisoned", "statusCallbackUrl": receiver.url})
        status, answer = env.api("SendFunction", "POST", path="/v1/messages", body=body, tenant=tenant)
        assert status == 202, answer
        poisoned = str(answer["id"])
        healthy = sent_with_callback(env, tenant, receiver, "after the poisoned one")
        callbacks = wait_for(receiver, healthy, "submitted")
        assert [c["status"] for c in callbacks] == ["accepted", "submitted"], "the stream went on past it"
        assert not [c for c in receiver.callbacks() if c["id"] == poisoned]
    deadline = time.monotonic() + 20
    parked: list[dict[str, Any]] = []
    while not parked and time.monotonic() < deadline:
        got = env.sqs.receive_message(QueueUrl=failures, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        parked = [json.loads(m["Body"]) for m in got.get("Messages") or []]
    assert parked, "the change given up is on the on-failure destination"
    streams = aws.client("dynamodbstreams", env.endpoint, env.template.region)
    for failure in parked:
        info = failure["DDBStreamBatchInfo"]
        assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert failure["requestContext"]["approximateInvokeCount"] >= 1 + 5, "tried 5 times more"
        iterator = streams.get_shard_iterator(
            StreamArn=info["streamArn"],
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info["startSequenceNumber"],
        )["ShardIterator"]
        (first,) = streams.get_records(ShardIterator=iterator, Limit=1)["Records"]
        assert first["dynamodb"]["Keys"]["id"]["S"] == poisoned, (
            "it names the poisoned message's change alone"
        )
        assert info["batchSize"] == 1
