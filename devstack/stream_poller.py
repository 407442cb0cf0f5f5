"""A DynamoDB Streams event source mapping, as Lambda runs one.

One job: read each shard of a table's stream in order, hand batches to the function in Lambda's
DynamoDB event shape, and move on only past what succeeded: a failed invocation is retried with
the same records (with a growing pause) until it succeeds, as with MaximumRetryAttempts -1; with
``ReportBatchItemFailures`` the shard resumes at the lowest sequence number reported, and an
unreadable report fails the whole batch. Records are never skipped, so one shard's order holds.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from devstack.polling import PollingThreads, Step
from devstack.runtime import Invoker

IDLE_POLL_S = 0.25  # Lambda polls each shard four times a second
MAX_RETRY_PAUSE_S = 5.0


class DynamoDBStreamsClient(Protocol):
    """The three calls of boto3's dynamodbstreams client used here (no type stubs installed)."""

    def describe_stream(self, *, StreamArn: str) -> dict[str, Any]: ...  # noqa: N803 - boto3's names

    def get_shard_iterator(
        self,
        *,
        StreamArn: str,  # noqa: N803
        ShardId: str,  # noqa: N803
        ShardIteratorType: str,  # noqa: N803
    ) -> dict[str, Any]: ...

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]: ...  # noqa: N803


@dataclass(frozen=True)
class StreamSource:
    function: str
    stream_arn: str
    region: str
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    report_batch_item_failures: bool = False


def _wire(value: Any) -> Any:
    """An attribute value as the JSON Lambda sends: binary as base64 (boto3 gives bytes)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_wire(v) for v in value]
    return value


def stream_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """Lambda's record for one GetRecords record."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # botocore parses it; Lambda sends epoch seconds
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": _wire(change),
        "eventSourceARN": stream_arn,
    }


def resume_after_failure(payload: Any, sequence_numbers: Sequence[str]) -> str | None:
    """Where the shard resumes after a successful invocation with ReportBatchItemFailures: None
    past the whole batch, else the lowest reported sequence number (the batch's first when the
    report cannot be read or names a record not in it)."""
    first = sequence_numbers[0]
    if payload is None:
        return None
    if not isinstance(payload, dict):
        return first
    failures = payload.get("batchItemFailures")
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        return first
    reported = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in sequence_numbers:
            return first
        reported.append(identifier)
    return min(reported, key=int)


class StreamPoller(PollingThreads):
    """One thread per shard: GetRecords → invoke → advance."""

    def __init__(
        self,
        source: StreamSource,
        invoker: Invoker,
        client_factory: Callable[[], DynamoDBStreamsClient],
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(f"stream:{source.function}", log)
        self.source = source
        self._invoker = invoker
        self._client_factory = client_factory

    def start(self) -> None:
        client = self._client_factory()
        shards = (
            client.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"].get("Shards") or []
        )
        for shard in shards:
            iterator = client.get_shard_iterator(
                StreamArn=self.source.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType=self.source.starting_position,
            )["ShardIterator"]
            name = f"stream-poller-{self.source.function}-{shard['ShardId']}"
            self._spawn(name, self._shard_steps(self._client_factory(), shard["ShardId"], iterator))

    def _shard_steps(self, client: DynamoDBStreamsClient, shard_id: str, iterator: str) -> Step:
        """Polls of one shard, each going on from where the last one left the iterator."""

        def step() -> float:
            nonlocal iterator
            iterator, worked = self.poll_once(client, shard_id, iterator)
            return 0.0 if worked else IDLE_POLL_S

        return step

    def poll_once(self, client: DynamoDBStreamsClient, shard_id: str, iterator: str) -> tuple[str, bool]:
        """Read one batch and see it through; the iterator to go on with, and whether there was one."""
        answer = client.get_records(ShardIterator=iterator, Limit=self.source.batch_size)
        records: list[dict[str, Any]] = [dict(r) for r in answer.get("Records") or []]
        next_iterator = answer.get("NextShardIterator") or iterator
        if not records:
            return next_iterator, False
        attempt = 0
        while not self._stop.is_set():
            resume = self._invoke(records)
            if resume is None:
                return next_iterator, True
            done = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(resume)]
            records = records[len(done) :]
            attempt += 1
            self._stop.wait(min(MAX_RETRY_PAUSE_S, 0.25 * 2**attempt))
        return next_iterator, True

    def _invoke(self, records: list[dict[str, Any]]) -> str | None:
        """None when the batch is done; otherwise the sequence number to resume at."""
        source = self.source
        event = {"Records": [stream_record(r, source.stream_arn, source.region) for r in records]}
        numbers = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
        invocation = self._invoker.invoke(source.function, event)
        if not invocation.ok:
            error = invocation.error or {}
            self._log(
                f"[stream:{source.function}] batch of {len(records)} failed "
                f"({error.get('errorType')}: {error.get('errorMessage')}); retrying it"
            )
            return numbers[0]
        if not source.report_batch_item_failures:
            return None
        resume = resume_after_failure(invocation.payload, numbers)
        if resume is not None:
            self._log(f"[stream:{source.function}] resuming at record {resume} of a batch of {len(records)}")
        return resume
