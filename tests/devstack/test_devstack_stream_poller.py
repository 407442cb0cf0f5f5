"""devstack.stream_poller: Lambda's DynamoDB Streams event source mapping, on moto's stream."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack import aws
from devstack.moto_server import MotoServer
from devstack.runtime import Invocation
from devstack.stream_poller import StreamPoller, StreamSource, resume_after_failure, stream_record

NUMBERS = ["100", "101", "102"]


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
