"""DynamoDB persistence of inbound messages and opt-outs, in MessagesTable.

- `inbound#<Sinch's id>`: one MO SMS or MMS. With a tenant it carries tenantRef `#inbound#<tenant>` and
  is listed, newest first, through the byClientReference index. A message's tenantRef starts with
  its tenant id (an API key id: letters and digits), never with '#', so the two never meet.
- `optout#<recipient>`: one item per handset number, one attribute `sender#<our number>` per
  sender number it opted out of (or back in to), with the time Sinch received the keyword. A send
  reads it with one GetItem; a batch reads its recipients' with BatchGetItem.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from sinch_gateway.data.messages import (
    CLIENT_REFERENCE_INDEX,
    _alive,
    bookkeeping_id,
    condition_failed,
    from_item,
    to_item,
)
from sinch_gateway.domain.inbound import SINCH_ID_PATTERN, Action, InboundMessage, sender_key
from sinch_gateway.domain.message import sortable_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        KeysAndAttributesTypeDef,
        KeysAndAttributesUnionTypeDef,
        PutTypeDef,
        UpdateTypeDef,
    )

Recorded = Literal["new", "duplicate", "replayed"]
BATCH_GET_KEYS = 100  # DynamoDB's most per BatchGetItem
BATCH_GET_THREADS = 8
BATCH_GET_TRIES = 8
_INBOUND_ITEM_ID = re.compile(re.escape(bookkeeping_id("inbound", "")) + SINCH_ID_PATTERN)


def is_inbound_item_id(value: str) -> bool:
    """An id `record` gives: "inbound#" and Sinch's id."""
    return _INBOUND_ITEM_ID.fullmatch(value) is not None


def inbox_ref(tenant_id: str) -> str:
    """The byClientReference key of a tenant's inbound messages."""
    return f"#inbound#{tenant_id}"


def _sender_attribute(sender: str) -> str:
    return f"sender#{sender_key(sender)}"


def inbound_item(message: InboundMessage, once: str | None, expires_at: int) -> dict[str, Any]:
    """The item an inbound message is stored as (at most MAX_STORED_BYTES: domain.inbound)."""
    return to_item(
        {
            **message.model_dump(mode="json", exclude_none=True),
            "id": bookkeeping_id("inbound", message.id),
            "sinchId": message.id,
            "ttl": expires_at,
            **({"tenantRef": inbox_ref(message.tenant_id)} if message.tenant_id else {}),
            **({"nonce": once} if once else {}),
        }
    )


class InboundRepository:
    def __init__(self, client: DynamoDBClient, table: str, keep_days: int) -> None:
        self._db = client
        self._table = table
        self._keep_s = keep_days * 86_400

    def record(self, message: InboundMessage, *, once: str | None = None) -> Recorded:
        """Store the message and, for a keyword, its opt-out or opt-in, both or neither.

        "duplicate" (nothing written) when Sinch's id is stored already: Sinch sending it again;
        "replayed" when it was stored under the signature nonce `once`: the same request twice.
        An opt-out older than the one held for that pair is stored as a message only, so that a
        late STOP never undoes a later START.
        """
        item = inbound_item(message, once, int(time.time()) + self._keep_s)
        put: PutTypeDef = {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(id)",
        }
        try:
            if message.action is None:
                self._db.put_item(**put)
            else:
                self._record_with_action(put, message)
        except ClientError as exc:
            if not (condition_failed(exc) or _cancelled_by(exc, 0)):
                raise
            return self._seen(item["id"]["S"], once)
        return "new"

    def _record_with_action(self, put: PutTypeDef, message: InboundMessage) -> None:
        at = sortable_time(message.received_at)
        update: UpdateTypeDef = {
            "TableName": self._table,
            "Key": {"id": {"S": bookkeeping_id("optout", message.from_)}},
            "UpdateExpression": "SET #s = :state",
            "ConditionExpression": "attribute_not_exists(#s) OR #s.#at < :at",
            "ExpressionAttributeNames": {"#s": _sender_attribute(message.to), "#at": "at"},
            "ExpressionAttributeValues": to_item(
                {":state": {"optedOut": message.action is Action.OPTED_OUT, "at": at}, ":at": at}
            ),
        }
        try:
            self._db.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}])
        except ClientError as exc:
            if not _cancelled_by(exc, 1) or _cancelled_by(exc, 0):
                raise
            # A later keyword from this number holds already: keep the message, not its effect.
            self._db.put_item(**put)

    def _seen(self, item_id: str, once: str | None) -> Recorded:
        if once is None:
            return "duplicate"
        answer = self._db.get_item(TableName=self._table, Key={"id": {"S": item_id}}, ConsistentRead=True)
        return "replayed" if answer.get("Item", {}).get("nonce", {}).get("S") == once else "duplicate"

    def list_for_tenant(
        self, tenant_id: str, limit: int, start_after: dict[str, Any] | None = None
    ) -> tuple[list[InboundMessage], dict[str, Any] | None]:
        """One page of the tenant's inbound messages, newest first, and the key to continue after
        it (None on the last page)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": CLIENT_REFERENCE_INDEX,
            "KeyConditionExpression": "tenantRef = :ref",
            "ExpressionAttributeValues": {":ref": {"S": inbox_ref(tenant_id)}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start_after:
            query["ExclusiveStartKey"] = start_after
        answer = self._db.query(**query)
        messages = [
            InboundMessage.model_validate({**from_item(i), "id": i["sinchId"]["S"]})
            for i in answer.get("Items", [])
            if _alive(i)
        ]
        return messages, answer.get("LastEvaluatedKey")


class OptOutRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def opted_out(self, recipient: str, sender: str | None) -> bool:
        """Whether `recipient` opted out of `sender`; of any of our numbers when the sender is not
        known (the Sinch secret unreadable): better a 422 now than a text after a STOP."""
        answer = self._db.get_item(
            TableName=self._table, Key={"id": {"S": bookkeeping_id("optout", recipient)}}, ConsistentRead=True
        )
        return _says_opted_out(answer.get("Item", {}), sender)

    def opted_out_all(self, recipients: Sequence[str], sender: str | None) -> frozenset[str]:
        """Which of `recipients` opted out of `sender` (as `opted_out`), read with BatchGetItem:
        100 keys a call, the calls at once (10,000 recipients are 100 calls)."""
        keys = list(dict.fromkeys(recipients))
        chunks = [keys[i : i + BATCH_GET_KEYS] for i in range(0, len(keys), BATCH_GET_KEYS)]
        if len(chunks) <= 1:
            found = [self._opted_out_of(chunk, sender) for chunk in chunks]
        else:
            with ThreadPoolExecutor(max_workers=min(len(chunks), BATCH_GET_THREADS)) as pool:
                found = list(pool.map(lambda chunk: self._opted_out_of(chunk, sender), chunks))
        return frozenset().union(*found)

    def _opted_out_of(self, recipients: Sequence[str], sender: str | None) -> set[str]:
        request: KeysAndAttributesTypeDef = {
            "Keys": [{"id": {"S": bookkeeping_id("optout", r)}} for r in recipients],
            "ConsistentRead": True,
        }
        if sender:  # the one attribute that says so, not the item's every sender
            request["ProjectionExpression"] = "#id, #sender"
            request["ExpressionAttributeNames"] = {"#id": "id", "#sender": _sender_attribute(sender)}
        opted: set[str] = set()
        pending: Mapping[str, KeysAndAttributesUnionTypeDef] = {self._table: request}
        for attempt in range(BATCH_GET_TRIES):
            if attempt:  # DynamoDB left some keys unread (throttled): back off, then ask again
                time.sleep(min(0.05 * 2**attempt, 1.0))
            answer = self._db.batch_get_item(RequestItems=pending)
            for item in answer.get("Responses", {}).get(self._table, []):
                if _says_opted_out(item, sender):
                    opted.add(item["id"]["S"].removeprefix(bookkeeping_id("optout", "")))
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return opted
        raise RuntimeError("DynamoDB left opt-outs unread after every try")


def _says_opted_out(item: Mapping[str, Any], sender: str | None) -> bool:
    if sender:
        states = [item.get(_sender_attribute(sender))]
    else:
        states = [value for name, value in item.items() if name.startswith("sender#")]
    return any(s is not None and s["M"]["optedOut"]["BOOL"] for s in states)


def _cancelled_by(exc: ClientError, index: int) -> bool:
    """Whether a cancelled transaction's item `index` failed its condition."""
    reasons = exc.response.get("CancellationReasons") or []
    return (
        exc.response.get("Error", {}).get("Code") == "TransactionCanceledException"
        and len(reasons) > index
        and reasons[index].get("Code") == "ConditionalCheckFailed"
    )
