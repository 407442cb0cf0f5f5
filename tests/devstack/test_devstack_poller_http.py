"""devstack.poller against moto: what gets deleted, what comes back, what reaches the DLQ."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from devstack import aws
from devstack.poller import SqsPoller, SqsSource
from devstack.runtime import Invocation

REGION = "us-east-1"


class Recorder:
    def __init__(self, answer: Callable[[dict[str, Any]], Invocation]) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def invoke(self, function: str, event: Any) -> Invocation:
        self.events.append(event)
        return self.answer(event)


def succeed_except(body: str) -> Callable[[dict[str, Any]], Invocation]:
    def answer(event: dict[str, Any]) -> Invocation:
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == body]
        return Invocation(function="f", request_id="r", ok=True, payload={"batchItemFailures": failures})

    return answer


def fail(event: dict[str, Any]) -> Invocation:
    error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 1.00 seconds"}
    return Invocation(function="f", request_id="r", ok=False, error=error, timed_out=True)


def make_queues(endpoint: str, *, visibility: int = 30, max_receive: int = 2) -> tuple[Any, str, str, str]:
    sqs = aws.client("sqs", endpoint, REGION)
    suffix = uuid.uuid4().hex[:8]
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
    queue = sqs.create_queue(
        QueueName=f"q-{suffix}", Attributes={"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, queue, arn, dlq


def count(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_partial_batch_failure_deletes_only_the_others(endpoint: str) -> None:
    sqs, queue, arn, _ = make_queues(endpoint)
    for body in ("one", "two", "three"):
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": body}},
        )
    invoker = Recorder(succeed_except("two"))
    source = SqsSource("f", queue, arn, REGION, batch_size=10, report_batch_item_failures=True, concurrency=1)
    poller = SqsPoller(source, invoker, lambda: aws.client("sqs", endpoint, REGION), log=lambda line: None)
    client = aws.client("sqs", endpoint, REGION)
    received = 0
    while received < 3:
        received += poller.poll_once(client)
    records = [r for event in invoker.events for r in event["Records"]]
    assert sorted(r["body"] for r in records) == ["one", "three", "two"]
    record = records[0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert count(sqs, queue) == (0, 1)  # only "two" is left, in flight until its visibility timeout


def test_without_report_batch_item_failures_a_success_deletes_all(endpoint: str) -> None:
    sqs, queue, arn, _ = make_queues(endpoint)
    sqs.send_message(QueueUrl=queue, MessageBody="two")
    invoker = Recorder(succeed_except("two"))  # the response is ignored without the setting
    source = SqsSource("f", queue, arn, REGION, report_batch_item_failures=False, concurrency=1)
    poller = SqsPoller(source, invoker, lambda: aws.client("sqs", endpoint, REGION), log=lambda line: None)
    assert poller.poll_once(aws.client("sqs", endpoint, REGION)) == 1
    assert count(sqs, queue) == (0, 0)


def test_a_failed_invocation_keeps_the_batch_and_sqs_redrives_it(endpoint: str) -> None:
    sqs, queue, arn, dlq = make_queues(endpoint, visibility=1, max_receive=2)
    sqs.send_message(QueueUrl=queue, MessageBody="poison")
    invoker = Recorder(fail)
    source = SqsSource("f", queue, arn, REGION, report_batch_item_failures=True, concurrency=2)
    poller = SqsPoller(source, invoker, lambda: aws.client("sqs", endpoint, REGION), log=lambda line: None)
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while count(sqs, dlq)[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        started = time.monotonic()
        poller.stop()
        assert time.monotonic() - started < 3  # the pollers stop after their current long poll
    assert count(sqs, dlq) == (1, 0)
    counts = [event["Records"][0]["attributes"]["ApproximateReceiveCount"] for event in invoker.events]
    assert counts == ["1", "2"]  # delivered twice (maxReceiveCount), then moved to the DLQ
    assert count(sqs, queue) == (0, 0)
