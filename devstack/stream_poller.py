"""A DynamoDB Streams event source mapping, as Lambda runs one.

One job: read each shard of a table's stream in order, hand batches to the function in Lambda's
DynamoDB event shape, and move on only past what succeeded, or what Lambda would give up on:

- a failed invocation is tried again with the same records (with a growing pause); with
  ``BisectBatchOnFunctionError`` a failed batch of several records is split in two halves, the
  first seen through before the second, and a split uses no retry;
- with ``ReportBatchItemFailures`` the shard resumes at the lowest sequence number reported (an
  unreadable report fails the whole batch);
- after ``MaximumRetryAttempts`` retries (-1: no limit), or once a record is older than
  ``MaximumRecordAgeInSeconds`` (-1: no limit), the batch is given up: its on-failure destination
  (an SQS queue) gets Lambda's invocation record (the batch's place in the stream, never its
  records), and the shard goes on.

A shard's order holds: records are skipped only when given up, never overtaken.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from devstack.polling import PollingThreads, Step
from devstack.runtime import Invocation, Invoker

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

IDLE_POLL_S = 0.25  # Lambda polls each shard four times a second
MAX_RETRY_PAUSE_S = 5.0


class DynamoDBStreamsClient(Protocol):
    """The calls of boto3's dynamodbstreams client used here and by the tests (no type stubs installed)."""

    def describe_stream(self, *, StreamArn: str) -> dict[str, Any]: ...  # noqa: N803 - boto3's names

    def get_shard_iterator(
        self,
        *,
        StreamArn: str,  # noqa: N803
        ShardId: str,  # noqa: N803
        ShardIteratorType: str,  # noqa: N803
        SequenceNumber: str = ...,  # noqa: N803 - AT_/AFTER_SEQUENCE_NUMBER (tests read a parked batch)
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
    maximum_retry_attempts: int = -1
    maximum_record_age_s: int = -1
    bisect_batch_on_function_error: bool = False
    on_failure_queue_url: str | None = None
    function_arn: str = ""  # named in the on-failure record


@dataclass
class _Batch:
    """Records still to be seen through, with the retries and invocations they have had."""

    records: list[dict[str, Any]]
    retries: int = 0
    invocations: int = 0
    last: Invocation | None = None


def _iso(when: Any) -> str:
    """A record's ApproximateCreationDateTime (a datetime from boto3) as Lambda writes it."""
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(float(when), UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created_s(record: dict[str, Any]) -> float:
    when = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(when, datetime):
        return when.timestamp()
    return float(when) if when is not None else time.time()


def on_failure_record(
    source: StreamSource, shard_id: str, batch: _Batch, condition: str, now: float
) -> dict[str, Any]:
    """What Lambda sends an on-failure destination for a batch it gave up: where the batch is in
    the stream, and how its last invocation ended; the records themselves stay on the stream."""
    records = batch.records
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if batch.last is not None and not batch.last.ok:
        response["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": batch.last.request_id if batch.last is not None else str(uuid.uuid4()),
            "functionArn": source.function_arn,
            "condition": condition,
            "approximateInvokeCount": batch.invocations,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": datetime.fromtimestamp(now, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": str(records[0]["dynamodb"]["SequenceNumber"]),
            "endSequenceNumber": str(records[-1]["dynamodb"]["SequenceNumber"]),
            "approximateArrivalOfFirstRecord": _iso(
                records[0]["dynamodb"].get("ApproximateCreationDateTime", now)
            ),
            "approximateArrivalOfLastRecord": _iso(
                records[-1]["dynamodb"].get("ApproximateCreationDateTime", now)
            ),
            "batchSize": len(records),
            "streamArn": source.stream_arn,
        },
    }


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
        sqs_client_factory: Callable[[], SQSClient] | None = None,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(f"stream:{source.function}", log)
        self.source = source
        self._invoker = invoker
        self._client_factory = client_factory
        self._sqs_client_factory = sqs_client_factory
        self._clock = clock

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
        self._see_through(shard_id, records)
        return next_iterator, True

    def _see_through(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Until every record succeeded or was given up (or the poller stops)."""
        source = self.source
        pending = deque([_Batch(records)])
        while pending and not self._stop.is_set():
            batch = pending.popleft()
            if source.maximum_record_age_s >= 0:  # records are in order: the too old come first
                oldest = self._clock() - source.maximum_record_age_s
                expired = [r for r in batch.records if _created_s(r) < oldest]
                if expired:
                    self._give_up(
                        shard_id,
                        _Batch(expired, batch.retries, batch.invocations, batch.last),
                        "RecordAgeExceeded",
                    )
                    batch.records = batch.records[len(expired) :]
                    if not batch.records:
                        continue
            invocation, resume = self._invoke(batch.records)
            batch.invocations += 1
            batch.last = invocation
            if invocation.ok and resume is None:
                continue
            if not invocation.ok and source.bisect_batch_on_function_error and len(batch.records) > 1:
                half = len(batch.records) // 2
                first = _Batch(batch.records[:half], batch.retries, batch.invocations, invocation)
                pending.extendleft(
                    [_Batch(batch.records[half:], batch.retries, batch.invocations, invocation), first]
                )
                self._log(f"[stream:{source.function}] split a failed batch of {len(batch.records)} in two")
                continue
            if resume is not None:
                batch.records = [
                    r for r in batch.records if int(r["dynamodb"]["SequenceNumber"]) >= int(resume)
                ]
            if 0 <= source.maximum_retry_attempts <= batch.retries:
                self._give_up(shard_id, batch, "RetryAttemptsExhausted")
                continue
            batch.retries += 1
            self._stop.wait(min(MAX_RETRY_PAUSE_S, 0.25 * 2**batch.retries))
            pending.appendleft(batch)

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[Invocation, str | None]:
        """The invocation, and where the shard resumes within the batch (None: past it)."""
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
            return invocation, numbers[0]
        if not source.report_batch_item_failures:
            return invocation, None
        resume = resume_after_failure(invocation.payload, numbers)
        if resume is not None:
            self._log(f"[stream:{source.function}] resuming at record {resume} of a batch of {len(records)}")
        return invocation, resume

    def _give_up(self, shard_id: str, batch: _Batch, condition: str) -> None:
        """Past the batch, as Lambda goes past it: its on-failure destination is told where it was."""
        source = self.source
        first, last = (
            batch.records[0]["dynamodb"]["SequenceNumber"],
            batch.records[-1]["dynamodb"]["SequenceNumber"],
        )
        self._log(f"[stream:{source.function}] gave up records {first}..{last} ({condition})")
        if source.on_failure_queue_url is None or self._sqs_client_factory is None:
            return
        record = on_failure_record(source, shard_id, batch, condition, self._clock())
        self._sqs_client_factory().send_message(
            QueueUrl=source.on_failure_queue_url, MessageBody=json.dumps(record)
        )
