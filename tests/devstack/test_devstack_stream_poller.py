"""devstack.stream_poller: Lambda's DynamoDB Streams event source mapping, on moto's stream."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamLambdaOnFailureDestinationModel

from devstack import aws
from devstack.moto_server import MotoServer
from devstack.runtime import Invocation
from devstack.stream_poller import StreamPoller, StreamSource, resume_after_failure, stream_record

NUMBERS = ["100", "101", "102"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("payload", "resume"),
    [
        (None, None),
        ({"batchItemFailures": []}, None),
        ({}, None),
        ({"batchItemFailures": [{"itemIdentifier": "102"}, {"itemIdentifier": "101"}]}, "101"),
        ({"batchItemFailures": [{"itemIdentifier": "999"}]}, "100"),  # not in the batch: all of it
        ({"batchItemFailures": [{"itemIdentifier": None}]}, "100"),
        ({"batchItemFailures": "101"}, "100"),
        ("not a report", "100"),
    ],
)
def test_a_partial_failure_resumes_at_the_lowest_reported_record(payload: Any, resume: str | None) -> None:
    assert resume_after_failure(payload, NUMBERS) == resume


def test_a_record_has_lambdas_shape() -> None:
    got = {
        "eventID": "e1",
        "eventName": "MODIFY",
        "eventVersion": "1.0",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 28, tzinfo=UTC),
            "Keys": {"id": {"S": "m"}},
            "NewImage": {"id": {"S": "m"}, "blob": {"B": b"\x00\x01"}},
            "SequenceNumber": "100",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    record = stream_record(got, "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x", "us-east-1")
    assert record["eventSource"] == "aws:dynamodb" and record["eventVersion"] == "1.1"
    assert record["eventSourceARN"].endswith("/stream/x") and record["awsRegion"] == "us-east-1"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1795824000
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}


class Scripted:
    """An invoker that fails as told, and keeps what it was given."""

    def __init__(self, *answers: Invocation) -> None:
        self.answers = list(answers)
        self.batches: list[list[str]] = []

    def invoke(self, function: str, event: Any) -> Invocation:
        self.batches.append([r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]])
        return self.answers.pop(0) if self.answers else Invocation(function, "r", ok=True)


def test_writes_reach_the_function_in_order_and_a_failed_record_is_taken_again_from_itself() -> None:
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        table = f"stream-{uuid.uuid4().hex[:8]}"  # moto's backends are the process's
        arn = db.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        for key in ("a", "b", "c"):
            db.put_item(TableName=table, Item={"id": {"S": key}})
        source = StreamSource("F", arn, "us-east-1", batch_size=10, report_batch_item_failures=True)
        client = aws.client("dynamodbstreams", endpoint, "us-east-1")
        shard = client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        invoker = Scripted(
            Invocation("F", "r", ok=False, error={"errorType": "Crash"}),  # the whole batch again
            Invocation(
                "F", "r", ok=True, payload={"batchItemFailures": [{"itemIdentifier": "x"}]}
            ),  # garbled
        )
        poller = StreamPoller(source, invoker, lambda: client, log=lambda _: None)
        iterator, worked = poller.poll_once(client, shard, iterator)
        assert worked
        assert invoker.batches == [["a", "b", "c"]] * 3
        numbers = [
            r["dynamodb"]["SequenceNumber"]
            for r in client.get_records(ShardIterator=iterator, Limit=10)["Records"]
        ]
        assert numbers == [], "the shard moved past what succeeded"

        db.put_item(TableName=table, Item={"id": {"S": "d"}})
        db.put_item(TableName=table, Item={"id": {"S": "e"}})
        first_of_two: list[str] = []

        def fail_the_second(function: str, event: Any) -> Invocation:
            numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
            first_of_two.append(",".join(r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]))
            failures = [{"itemIdentifier": numbers[1]}] if len(numbers) == 2 else []
            return Invocation(function, "r", ok=True, payload={"batchItemFailures": failures})

        invoker.invoke = fail_the_second  # type: ignore[method-assign]
        poller.poll_once(client, shard, iterator)
        assert first_of_two == ["d,e", "e"]
    finally:
        server.stop()


# --- bounded as Lambda bounds it: retries, record age, bisection, on-failure destination ----------


class Stream:
    """A moto table with a stream, its shard, and an SQS queue for on-failure records."""

    def __init__(self, endpoint: str) -> None:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        self.db = db
        self.table = f"stream-{uuid.uuid4().hex[:8]}"  # moto's backends are the process's
        self.arn = db.create_table(
            TableName=self.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        self.client = aws.client("dynamodbstreams", endpoint, "us-east-1")
        self.shard = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0][
            "ShardId"
        ]
        self.sqs = aws.client("sqs", endpoint, "us-east-1")
        self.dead_letters = self.sqs.create_queue(QueueName=f"{self.table}-failures")["QueueUrl"]

    def put(self, *keys: str) -> None:
        for key in keys:
            self.db.put_item(TableName=self.table, Item={"id": {"S": key}})

    def iterator(self) -> str:
        return str(
            self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=self.shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        )

    def source(self, **bounds: Any) -> StreamSource:
        return StreamSource(
            "F",
            self.arn,
            "us-east-1",
            batch_size=10,
            on_failure_queue_url=self.dead_letters,
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:F",
            **bounds,
        )

    def run(self, invoker: Poisoned, clock: Any = None, **bounds: Any) -> StreamSource:
        """One poll of the shard from its start, with these bounds; the source it ran with."""
        source = self.source(**bounds)
        poller = StreamPoller(
            source,
            invoker,
            lambda: self.client,
            sqs_client_factory=lambda: self.sqs,
            log=print,
            **({"clock": clock} if clock is not None else {}),
        )
        assert poller.poll_once(self.client, self.shard, self.iterator())[1]
        return source

    def failures(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.dead_letters, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(m["Body"]) for m in got.get("Messages") or []]


@pytest.fixture
def stream() -> Iterator[Stream]:
    server = MotoServer("127.0.0.1", 0)
    try:
        yield Stream(server.start())
    finally:
        server.stop()


class Poisoned:
    """A function that fails (unhandled) on any batch holding the poisoned record."""

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.batches: list[list[str]] = []

    def invoke(self, function: str, event: Any) -> Invocation:
        keys = [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]
        self.batches.append(keys)
        if self.poison in keys:
            return Invocation(function, f"req-{len(self.batches)}", ok=False, error={"errorType": "Crash"})
        return Invocation(function, f"req-{len(self.batches)}", ok=True)


def test_a_record_that_keeps_failing_is_split_out_retried_a_bounded_number_of_times_and_parked(
    stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("devstack.stream_poller.MAX_RETRY_PAUSE_S", 0.01)
    stream.put("a", "b", "c", "d")
    invoker = Poisoned("c")
    source = stream.source(maximum_retry_attempts=2, bisect_batch_on_function_error=True)
    poller = StreamPoller(
        source, invoker, lambda: stream.client, sqs_client_factory=lambda: stream.sqs, log=print
    )
    _, worked = poller.poll_once(stream.client, stream.shard, stream.iterator())
    assert worked
    # Split in halves, the first half first; the split used no retry; "c" alone, tried 1 + 2 times.
    assert invoker.batches == [["a", "b", "c", "d"], ["a", "b"], ["c", "d"], ["c"], ["c"], ["c"], ["d"]]
    (failure,) = stream.failures()
    parsed = DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(failure)  # Lambda's shape
    info = parsed.ddb_stream_batch_info
    numbers = [
        r["dynamodb"]["SequenceNumber"]
        for r in stream.client.get_records(ShardIterator=stream.iterator(), Limit=10)["Records"]
    ]
    assert (info.start_sequence_number, info.end_sequence_number, info.batch_size) == (
        numbers[2],
        numbers[2],
        1,
    )
    assert (info.shard_id, info.stream_arn) == (stream.shard, stream.arn)
    assert parsed.request_context.condition == "RetryAttemptsExhausted"
    assert parsed.request_context.approximate_invoke_count == 5  # the batch's, its half's, its own three
    assert parsed.request_context.function_arn == source.function_arn
    assert parsed.request_context.request_id == "req-6"
    assert parsed.response_context.function_error == "Unhandled"
    assert not {"Records", "NewImage", "Keys"} & set(json.dumps(failure).replace('"', " ").split()), (
        "the place, never the records"
    )


def test_without_bisection_the_whole_failing_batch_is_parked_after_its_retries(stream: Stream) -> None:
    stream.put("a", "b")
    invoker = Poisoned("b")
    stream.run(invoker, maximum_retry_attempts=0)
    assert invoker.batches == [["a", "b"]]
    (failure,) = stream.failures()
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 2


def test_a_record_older_than_the_maximum_age_is_parked_without_an_invocation(stream: Stream) -> None:
    stream.put("old", "new")
    records = stream.client.get_records(ShardIterator=stream.iterator(), Limit=10)["Records"]
    created = records[0]["dynamodb"]["ApproximateCreationDateTime"].timestamp()
    invoker = Poisoned("nothing")
    stream.run(invoker, clock=lambda: created + 3601, maximum_record_age_s=3600)  # an hour on: both too old
    assert invoker.batches == []
    (failure,) = stream.failures()
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] == 0
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 2


def test_the_stacks_poller_takes_its_bounds_and_destination_from_the_template() -> None:
    from devstack.resources import Queue, StackResources
    from devstack.stack import pool_sizes_for, stream_source
    from devstack.template import Template

    template = Template(ROOT / "template.yaml")
    template.register(
        "MessagesTable", "messages", StreamArn="arn:aws:dynamodb:us-east-1:1:table/messages/stream/1"
    )
    (mapping,) = template.stream_mappings()
    url = "http://127.0.0.1:1/123456789012/changes"
    resources = StackResources(
        queues={
            "MessageChangesDeadLetterQueue": Queue("MessageChangesDeadLetterQueue", "changes", url, "arn")
        }
    )
    source = stream_source(template, mapping, resources)
    assert (source.maximum_retry_attempts, source.maximum_record_age_s) == (5, 3600)
    assert source.bisect_batch_on_function_error and source.on_failure_queue_url == url
    assert source.function_arn.endswith(":function:" + template.function_name("CallbackFunction"))
    # The stream's invocations do not wait for workers the queue's MaximumConcurrency fills.
    sizes = pool_sizes_for(template.sqs_mappings(), template.stream_mappings(), 1)
    (callbacks,) = [m for m in template.sqs_mappings() if m.function == "CallbackFunction"]
    assert sizes["CallbackFunction"] == (callbacks.maximum_concurrency or 0) + 1
