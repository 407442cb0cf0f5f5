"""Reports kept raw for a while, for investigation: those no message took (`unmatched#...`), and
every MMS JSON API postback as it arrived (`postback#...`, as Sinch recommends keeping them).

Sinch may report on a batch we never recorded (a message already expired, a batch sent from
another system on the same service plan): that is no error, but it should not vanish either.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from sinch_gateway.data.messages import bookkeeping_id, condition_failed
from sinch_gateway.domain.message import utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Reason = Literal["unknown_message", "unknown_status", "received"]
# At most 4 bytes a character: far under DynamoDB's 400 KB per item. Sinch's reports on our
# one-recipient batches are tiny.
MAX_REPORT_CHARS = 50_000
MAX_BATCH_ID_CHARS = 100


class UnmatchedReports:
    def __init__(self, client: DynamoDBClient, table: str, keep_days: int) -> None:
        self._db = client
        self._table = table
        self._keep_s = keep_days * 86_400

    def keep(
        self, batch_id: str, raw: str, reason: Reason, kind: str = "unmatched", *, once: str | None = None
    ) -> str | None:
        """Store the raw report (one put); returns its id.

        The id ends with a digest of the body: a resent copy overwrites its first copy instead
        of adding another. `once` is a signed report's nonce: None, and nothing written, when
        this very report was kept under that nonce before (a replay).
        """
        digest = hashlib.sha256(raw.encode()).hexdigest()[:32]
        item_id = bookkeeping_id(kind, batch_id[:MAX_BATCH_ID_CHARS], digest)
        item: dict[str, Any] = {
            "id": {"S": item_id},
            "reason": {"S": reason},
            "report": {"S": raw[:MAX_REPORT_CHARS]},
            "receivedAt": {"S": utcnow().isoformat()},
            "ttl": {"N": str(int(time.time()) + self._keep_s)},
        }
        if len(raw) > MAX_REPORT_CHARS:
            item["truncated"] = {"BOOL": True}
        if once is None:
            self._db.put_item(TableName=self._table, Item=item)
            return item_id
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**item, "nonce": {"S": once}},
                ConditionExpression="attribute_not_exists(id) OR nonce <> :nonce",
                ExpressionAttributeValues={":nonce": {"S": once}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return item_id
