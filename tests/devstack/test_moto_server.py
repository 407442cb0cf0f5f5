"""devstack.moto_server: moto under concurrent DynamoDB writes to one item answers like DynamoDB."""

import json
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devstack import aws
from devstack.moto_server import MotoServer


def hash_keyed_table(db: Any, name: str) -> None:
    """A table keyed by `id` alone, as MessagesTable is."""
    db.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )


def test_concurrent_conditional_writes_to_one_item_never_fail_with_a_500() -> None:
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        hash_keyed_table(db, "t")
        db.put_item(TableName="t", Item={"id": {"S": "m"}, "n": {"N": "0"}, "events": {"L": []}})

        def write(i: int) -> str:
            try:
                db.update_item(
                    TableName="t",
                    Key={"id": {"S": "m"}},
                    UpdateExpression="SET n = n + :one, events = list_append(events, :e)",
                    ConditionExpression="n < :max",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":max": {"N": "1000"},
                        ":e": {"L": [{"M": {"i": {"N": str(i)}}}]},
                    },
                )
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])
            return "ok"

        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(pool.map(write, range(400)))

        assert set(outcomes) == {"ok"}
        item = db.get_item(TableName="t", Key={"id": {"S": "m"}})["Item"]
        assert (item["n"]["N"], len(item["events"]["L"])) == ("400", 400)
    finally:
        server.stop()


def test_a_busy_port_is_an_error_not_a_hang() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="moto could not start"):
            MotoServer("127.0.0.1", taken.getsockname()[1]).start()


def test_concurrent_receives_moving_messages_to_the_dlq_never_fail_nor_duplicate() -> None:
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        server_errors: list[int] = []

        def count_5xx(response: Any = None, **_: Any) -> None:
            # The client retries a 500 and may hide it: count it where it arrives.
            if response is not None and response[0].status_code >= 500:
                server_errors.append(response[0].status_code)

        sqs.meta.events.register("needs-retry.sqs", count_5xx)
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
        dlq_arn = attributes["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
        queue = sqs.create_queue(QueueName="q", Attributes={"RedrivePolicy": policy})["QueueUrl"]
        for start in range(0, 200, 10):
            sqs.send_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(start, start + 10)],
            )

        def receive(_: int) -> list[str]:
            # Seen once and visible again at once: the next receive moves it to the DLQ.
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
            return [m["Body"] for m in got.get("Messages", [])]

        with ThreadPoolExecutor(max_workers=16) as pool:
            received = [body for bodies in pool.map(receive, range(400)) for body in bodies]

        moved: list[str] = []
        while got := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
            moved += [m["Body"] for m in got]
            sqs.delete_message_batch(
                QueueUrl=dlq,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)],
            )
        assert server_errors == []
        assert len(moved) == len(set(moved))
        assert set(received) | set(moved) == {str(i) for i in range(200)}
    finally:
        server.stop()


def test_a_long_poll_does_not_hold_senders_up() -> None:
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        queue = sqs.create_queue(QueueName="waiting")["QueueUrl"]
        with ThreadPoolExecutor(max_workers=1) as pool:
            poll = pool.submit(sqs.receive_message, QueueUrl=queue, WaitTimeSeconds=20)
            sqs.send_message(QueueUrl=queue, MessageBody="hello")
            # The waiting receive sees the message sent while it waited.
            assert [m["Body"] for m in poll.result(timeout=15)["Messages"]] == ["hello"]
    finally:
        server.stop()


def test_a_receive_from_a_long_queue_walks_it_once_not_once_per_message() -> None:
    from moto.sqs.models import Queue

    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    walks = 0
    real = Queue.messages

    def counted(queue: Queue) -> Any:
        nonlocal walks
        walks += 1
        return real.fget(queue)  # type: ignore[attr-defined]

    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        url = sqs.create_queue(QueueName="long")["QueueUrl"]
        for start in range(0, 200, 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "MessageBody": json.dumps({"n": i})} for i in range(start, start + 10)
                ],
            )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Queue, "messages", property(counted))
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

        assert len(got) == 10
        # moto's own retention check walked the queue three times for each message returned.
        assert walks <= 3, walks
    finally:
        server.stop()


def test_a_message_past_the_queues_retention_is_not_received() -> None:
    from moto.sqs.models import sqs_backends

    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="old")
        queue = sqs_backends["123456789012"]["us-east-1"].get_queue("short")
        for message in queue._messages:
            stamped: Any = message  # moto's annotation says None before sending
            stamped.sent_timestamp -= 61_000  # sent 61 s ago, as moto stamps it (ms)

        assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    finally:
        server.stop()


def test_a_fifo_group_whose_messages_came_back_is_received_in_order_again() -> None:
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        url = sqs.create_queue(
            QueueName=f"fifo-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        for body in ("first", "second", "third"):
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body)
        taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in taken] == ["first", "second", "third"]
        for message in taken:  # all three failed: back in a second (a backoff that runs out)
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=1
            )
        deadline = time.monotonic() + 10
        again: list[Any] = []
        while not again and time.monotonic() < deadline:
            again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
                "Messages", []
            )
        assert [m["Body"] for m in again][:1] == ["first"], "the group's head comes first, as in SQS"
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == [], (
            "the group waits while its head is in flight"
        )
    finally:
        server.stop()


class _SteppingClock:
    """moto's millisecond clock for one receive: `before` for its first `calls` readings, `after`
    from then on, as if the wall clock crossed a message's visibility end in the middle of a scan."""

    def __init__(self, now: float) -> None:
        self.before = self.after = now
        self.calls = 0
        self.flip_after = 0

    def cross(self, before: float, after: float, flip_after: int) -> None:
        self.before, self.after, self.calls, self.flip_after = before, after, 0, flip_after

    def __call__(self) -> float:
        self.calls += 1
        return self.before if self.calls <= self.flip_after else self.after


def test_a_fifo_group_keeps_its_order_whenever_the_clock_moves_during_a_receive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The three callbacks of one message came back from their backoffs a few ms apart; a receive
    ran just as the last one became visible. SQS sees one instant: the group is either still held
    or given out from its head. moto read the clock again for each message and gave out the third
    alone, ahead of the first two (status callbacks reached a receiver as delivered, accepted,
    submitted)."""
    import moto.core.utils

    t = time.time() * 1000
    clock = _SteppingClock(t)
    monkeypatch.setattr(moto.core.utils, "unix_time_millis", clock)
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        seen = set()
        for flip_after in range(60):
            clock.cross(t, t, 0)
            url = sqs.create_queue(
                QueueName=f"fifo-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
            )["QueueUrl"]
            for body in ("first", "second", "third"):
                sqs.send_message(
                    QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body
                )
            taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            handles = [m["ReceiptHandle"] for m in taken["Messages"]]
            for handle, back_in in zip(handles, (0, 0, 1), strict=True):  # the third comes back last
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=back_in)
            clock.cross(t + 500, t + 500, 0)  # a receive while the third is still out: nothing
            assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
            clock.cross(t + 999, t + 1001, flip_after)
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            got = [m["Body"] for m in answer.get("Messages", [])]
            seen.add(tuple(got))
            assert got == ["first", "second", "third"][: len(got)], f"crossed after {flip_after} readings"
        assert () in seen and len(seen) > 1, "the clock crossed both before and after the scan"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("start_key", "message"),
    [
        (
            {"pk": {"S": "p"}, "sk": {"S": "\u00e9" * 513}},
            "range keys has exceeded the size limit of 1024 bytes",
        ),
        ({"pk": {"S": "\u00e9" * 1025}, "sk": {"S": "s"}}, "hashkey has exceeded the maximum size limit"),
    ],
)
def test_a_start_key_past_dynamodbs_key_sizes_is_refused_as_dynamodb_refuses_it(
    start_key: dict[str, Any], message: str
) -> None:
    # 513 "é" are 1,026 bytes in 513 characters: DynamoDB measures keys in bytes.
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        table = f"paged-{uuid.uuid4().hex[:8]}"  # moto's backends are the process's
        db.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )

        def query(start: dict[str, Any]) -> Any:
            return db.query(
                TableName=table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "p"}},
                ExclusiveStartKey=start,
            )

        assert query({"pk": {"S": "p"}, "sk": {"S": "\u00e9" * 512}})["Items"] == []  # 1,024 bytes
        pages: list[Callable[[], Any]] = [
            lambda: query(start_key),
            lambda: db.scan(TableName=table, ExclusiveStartKey=start_key),
        ]
        for page in pages:
            with pytest.raises(ClientError) as refused:
                page()
            error = refused.value.response["Error"]
            assert error["Code"] == "ValidationException"
            assert message in error["Message"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("body", "attribute", "shown"),
    [
        ("order-\uffff", "fine", "#xFFFF"),
        ("\ufffe", "fine", "#xFFFE"),
        ("a\x00", "fine", "#x0"),
        ("lone \ud800", "fine", "#xD800"),
        ("fine", "reason \uffff", "#xFFFF"),
    ],
)
def test_sqs_refuses_a_character_outside_its_set_as_sqs_does(body: str, attribute: str, shown: str) -> None:
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        url = sqs.create_queue(QueueName=f"chars-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        attributes: dict[str, Any] = {"reason": {"DataType": "String", "StringValue": attribute}}
        with pytest.raises(ClientError) as refused:
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Error"]["Code"] == "InvalidMessageContents"
        where = "the message body" if body != "fine" else "the value of message attribute 'reason'"
        assert error["Error"]["Message"] == (
            f"Invalid binary character '{shown}' was found in {where}, the set of allowed characters is "
            "#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]."
        )
        entry = {"Id": "1", "MessageBody": body, "MessageAttributes": {"reason": attributes["reason"]}}
        with pytest.raises(ClientError, match="InvalidMessageContents"):
            sqs.send_message_batch(QueueUrl=url, Entries=[entry])  # type: ignore[list-item]
        assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
        # What SQS takes still goes: tab, line ends, emoji, the last characters before each gap.
        sqs.send_message(
            QueueUrl=url,
            MessageBody="\t\r\n caf\u00e9 \U0001f600 \ud7ff \ufffd \U0010ffff",
            MessageAttributes={"reason": {"DataType": "String", "StringValue": "\u00e9 \U0001f600"}},
        )
    finally:
        server.stop()


def test_a_long_poll_on_a_fifo_queue_whose_groups_are_all_held_waits_instead_of_spinning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message behind its group's message in flight is visible but not receivable: moto's wait
    returned at once for it, and the long poll rescanned the queue without pause (under the lock
    every SQS request needs) for its whole wait."""
    from moto.sqs.models import SQSBackend

    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    scans = 0
    scan = SQSBackend.receive_message.scan_once  # type: ignore[attr-defined]

    def counted(*args: Any) -> Any:
        nonlocal scans
        scans += 1
        return scan(*args)

    monkeypatch.setattr(SQSBackend.receive_message, "scan_once", counted)
    try:
        sqs = aws.client("sqs", endpoint, "us-east-1")
        url = sqs.create_queue(
            QueueName=f"held-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        for n in range(2):
            sqs.send_message(
                QueueUrl=url, MessageBody=str(n), MessageGroupId="g", MessageDeduplicationId=str(n)
            )
        (first,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]
        assert first["Body"] == "0"
        scans = 0
        started = time.monotonic()
        assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
        assert time.monotonic() - started >= 1, "it waited its whole long poll"
        assert scans <= 1 / 0.05 + 5, f"{scans} scans of the queue in one second"
    finally:
        server.stop()


def _refusal(write: Any) -> tuple[str, str] | None:
    try:
        write()
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"]["Message"]
    return None


def test_an_item_over_400_kb_is_refused_as_dynamodb_counts_it_whatever_the_write() -> None:
    """DynamoDB counts 3 bytes for a list or map and 1 more for each element: a list of 210,000
    one-character strings is 420 KB to it (moto counted 210 KB and took it). A nested update is
    measured too (moto took `SET events[0].detail` of any size), and a refused update leaves the
    item as it was."""
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        hash_keyed_table(db, "sized")
        many_small: dict[str, Any] = {"id": {"S": "m"}, "x": {"L": [{"S": "a"}] * 210_000}}
        assert _refusal(lambda: db.put_item(TableName="sized", Item=many_small)) == (
            "ValidationException",
            "Item size has exceeded the maximum allowed size",
        )
        db.put_item(TableName="sized", Item={"id": {"S": "n"}, "events": {"L": [{"M": {"a": {"S": "x"}}}]}})
        nested = {":d": {"S": "d" * 410_000}}
        assert _refusal(
            lambda: db.update_item(
                TableName="sized",
                Key={"id": {"S": "n"}},
                UpdateExpression="SET events[0].detail = :d",
                ExpressionAttributeValues=nested,
            )
        ) == ("ValidationException", "Item size to update has exceeded the maximum allowed size")
        kept = db.get_item(TableName="sized", Key={"id": {"S": "n"}})["Item"]
        assert kept["events"] == {"L": [{"M": {"a": {"S": "x"}}}]}
    finally:
        server.stop()


def test_an_item_up_to_400_kb_is_taken_also_when_an_update_grows_it() -> None:
    """The limit is 400 KB (409,600 bytes), counted once: moto counted the attribute a list_append
    replaces twice, and refused a list grown to about 200 KB."""
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        hash_keyed_table(db, "grown")
        db.put_item(TableName="grown", Item={"id": {"S": "g"}, "events": {"L": []}})
        # "id" 2 + "g" 1, "events" 6 + list 3 + 35 x (1 + 10,000) = 350,047 bytes
        for _ in range(35):
            db.update_item(
                TableName="grown",
                Key={"id": {"S": "g"}},
                UpdateExpression="SET events = list_append(events, :e)",
                ExpressionAttributeValues={":e": {"L": [{"S": "e" * 10_000}]}},
            )
        assert len(db.get_item(TableName="grown", Key={"id": {"S": "g"}})["Item"]["events"]["L"]) == 35
        # Exactly 409,600 bytes: "id" 2 + "x" 1, "x" 1 + 409,596.
        assert (
            _refusal(
                lambda: db.put_item(TableName="grown", Item={"id": {"S": "x"}, "x": {"S": "x" * 409_596}})
            )
            is None
        )
        assert _refusal(
            lambda: db.put_item(TableName="grown", Item={"id": {"S": "y"}, "x": {"S": "y" * 409_597}})
        ) == ("ValidationException", "Item size has exceeded the maximum allowed size")
    finally:
        server.stop()


def test_a_transaction_never_copies_its_tables_stream_and_one_that_fails_leaves_no_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.dynamodb.models.table import StreamShard

    def refused(self: StreamShard, memo: dict[int, Any]) -> StreamShard:
        raise AssertionError("a transaction copied a stream's records")

    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    monkeypatch.setattr(StreamShard, "__deepcopy__", refused, raising=False)
    try:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        table = f"streamed-{uuid.uuid4().hex[:8]}"
        hash_keyed_table(db, table)
        arn = db.update_table(
            TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        )["TableDescription"]["LatestStreamArn"]
        db.put_item(TableName=table, Item={"id": {"S": "a"}})

        db.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"id": {"S": "b"}}}}])
        with pytest.raises(ClientError) as cancelled:
            db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {"id": {"S": "c"}}}},
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"id": {"S": "a"}},
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    },
                ]
            )

        assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
        streams = aws.client("dynamodbstreams", endpoint, "us-east-1")
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)["Records"]
        assert [r["dynamodb"]["Keys"]["id"]["S"] for r in records] == ["a", "b"]
        assert "Item" not in db.get_item(TableName=table, Key={"id": {"S": "c"}})
    finally:
        server.stop()
