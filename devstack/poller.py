"""An SQS event source mapping, as Lambda runs one.

One job: poll a queue, hand batches to the function in Lambda's SQS event shape, and delete
what Lambda would delete: the whole batch on success; with ``ReportBatchItemFailures`` all but
the reported ``batchItemFailures``; nothing when the function fails or times out (the messages
come back after the visibility timeout, and SQS moves them to the DLQ past ``maxReceiveCount``).
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devstack.polling import PollingThreads
from devstack.runtime import Invoker

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

# The system attributes Lambda copies into a record's "attributes".
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
    "DeadLetterQueueSourceArn",
)
DEFAULT_CONCURRENCY = 2  # pollers per mapping when ScalingConfig says nothing


@dataclass(frozen=True)
class SqsSource:
    """What a poller needs to know about one event source mapping."""

    function: str  # what the invoker is asked to invoke (logical id or name)
    queue_url: str
    queue_arn: str
    region: str
    batch_size: int = 10
    maximum_batching_window: float = 0.0
    report_batch_item_failures: bool = False
    concurrency: int = DEFAULT_CONCURRENCY


def sqs_event(messages: Sequence[MessageTypeDef], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's event for a batch of received SQS messages."""
    return {"Records": [sqs_record(message, queue_arn, region) for message in messages]}


def sqs_record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    received = message.get("Attributes") or {}
    attributes = {name: value for name, value in received.items() if name in _RECORD_ATTRIBUTES}
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute: dict[str, Any] = {}
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        attribute["stringListValues"] = list(value.get("StringListValues") or [])
        attribute["binaryListValues"] = [
            base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues") or []
        ]
        attribute["dataType"] = value["DataType"]
        message_attributes[name] = attribute
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def failed_message_ids(payload: Any, message_ids: Sequence[str]) -> set[str]:
    """The messages to keep after a successful invocation with ReportBatchItemFailures.

    Lambda treats a null/empty response or batchItemFailures as full success, and an
    unreadable response, or an identifier that is empty, null, misspelt or not in the batch, as
    the failure of the whole batch.
    """
    everything = set(message_ids)
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return everything
    failures = payload.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


class SqsPoller(PollingThreads):
    """Pollers for one event source mapping: ``concurrency`` threads, each receive → invoke → delete."""

    def __init__(
        self,
        source: SqsSource,
        invoker: Invoker,
        client_factory: Callable[[], SQSClient],
        *,
        log: Callable[[str], None] | None = None,
        wait_time_seconds: int = 1,
    ) -> None:
        super().__init__(f"sqs:{source.function}", log)
        self.source = source
        self._invoker = invoker
        self._clients = [client_factory() for _ in range(max(1, source.concurrency))]
        self._wait = wait_time_seconds

    def start(self) -> None:
        for index, client in enumerate(self._clients):
            self._spawn(f"sqs-poller-{self.source.function}-{index}", functools.partial(self._step, client))

    def _step(self, client: SQSClient) -> float:
        self.poll_once(client)
        return 0.0  # the receive itself waits for messages (a long poll)

    def poll_once(self, client: SQSClient) -> int:
        """Receive one batch, invoke, delete; return how many messages were received."""
        messages = self._receive_batch(client)
        if messages:
            self._process(client, messages)
        return len(messages)

    def _receive(self, client: SQSClient, count: int, wait: int) -> list[MessageTypeDef]:
        response = client.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages") or [])

    def _receive_batch(self, client: SQSClient) -> list[MessageTypeDef]:
        batch = self._receive(client, self.source.batch_size, self._wait)
        window = self.source.maximum_batching_window
        if not batch or window <= 0:
            return batch
        deadline = time.monotonic() + window
        while len(batch) < self.source.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch += self._receive(
                client, self.source.batch_size - len(batch), min(self._wait, int(remaining))
            )
        return batch

    def _process(self, client: SQSClient, messages: list[MessageTypeDef]) -> None:
        event = sqs_event(messages, self.source.queue_arn, self.source.region)
        invocation = self._invoker.invoke(self.source.function, event)
        ids = [m["MessageId"] for m in messages]
        if not invocation.ok:
            error = invocation.error or {}
            self._log(
                f"[sqs:{self.source.function}] batch of {len(messages)} failed "
                f"({error.get('errorType')}: {error.get('errorMessage')}); the messages return after "
                "the visibility timeout"
            )
            return
        keep: set[str] = set()
        if self.source.report_batch_item_failures:
            keep = failed_message_ids(invocation.payload, ids)
            if keep:
                self._log(f"[sqs:{self.source.function}] {len(keep)} of {len(messages)} messages failed")
        self._delete(client, [m for m in messages if m["MessageId"] not in keep])

    def _delete(self, client: SQSClient, messages: list[MessageTypeDef]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = client.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed") or []:
                self._log(f"[sqs:{self.source.function}] delete failed: {failure.get('Message')}")
