"""Refusing replayed signed callbacks: each signature nonce is accepted once.

The nonces live in MessagesTable under ids no message can have (see `bookkeeping_id`), each
until its signature's timestamp window closes: after that the window alone refuses a replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from sinch_gateway.data.messages import bookkeeping_id, condition_failed
from sinch_gateway.domain.webhook_auth import Nonce

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class NonceStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def claim(self, nonce: Nonce) -> bool:
        """True the first time `nonce` is seen; False for a replay. One conditional put."""
        try:
            self._db.put_item(
                TableName=self._table,
                # DynamoDB deletes expired items late; an expired nonce still refuses, which is
                # harmless: its timestamp is outside the window by then.
                Item={
                    "id": {"S": bookkeeping_id("nonce", nonce.value)},
                    "ttl": {"N": str(nonce.fresh_until + 1)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release(self, nonce: Nonce) -> None:
        """Forget a nonce whose report could not be applied, so that a retry of the very same
        request (should Sinch resend one unchanged) is not taken for a replay."""
        self._db.delete_item(TableName=self._table, Key={"id": {"S": bookkeeping_id("nonce", nonce.value)}})
