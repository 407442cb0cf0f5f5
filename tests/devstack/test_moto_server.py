"""devstack.moto_server: moto under concurrent DynamoDB writes to one item answers like DynamoDB."""

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from devstack import aws
from devstack.moto_server import MotoServer


def test_concurrent_conditional_writes_to_one_item_never_fail_with_a_500() -> None:
    server = MotoServer("127.0.0.1", 0)
    endpoint = server.start()
    try:
        db = aws.client("dynamodb", endpoint, "us-east-1")
        db.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
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
