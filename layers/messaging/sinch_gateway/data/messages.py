"""DynamoDB persistence of messages. Every write that changes a status is conditional."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from sinch_gateway.data.attribute_values import deserialize, serialize
from sinch_gateway.domain.message import Advanced, MessageRecord, StatusEvent, utcnow
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status, Transition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: deserialize(v) for k, v in item.items()}


CLIENT_REFERENCE_INDEX = "byClientReference"
# A stale report's event is not kept past this many events: an item must stay under 400 KB.
MAX_EVENTS = 100


def bookkeeping_id(kind: str, *parts: str) -> str:
    """Id of a non-message item in MessagesTable (an unmatched report, a rate schedule).

    Message ids are UUIDs, so an id with '#' never names a message. These items carry no
    tenantRef either, so the sparse byClientReference index never lists them.
    """
    return "#".join((kind, *parts))


# Message ids are lowercase UUIDs (message.py, queue_intake.py). Anything else names no message,
# and is never sent to DynamoDB as a key: it may be longer than a key can be, or not even text.
_MESSAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_message_id(value: str) -> bool:
    return _MESSAGE_ID.fullmatch(value) is not None


def _alive(item: dict[str, Any]) -> bool:
    # DynamoDB deletes expired items only eventually (moto never): past its TTL an item is gone.
    ttl = item.get("ttl", {}).get("N")
    return ttl is None or int(ttl) > time.time()


def tenant_ref(tenant_id: str, client_reference: str) -> str:
    """The byClientReference key: a listing is per tenant, even for the same clientReference."""
    return f"{tenant_id}#{client_reference}"


def _message_item(record: MessageRecord) -> dict[str, Any]:
    item = record.model_dump(mode="json", exclude_none=True)
    item["statusRank"] = record.status.rank
    if record.client_reference:
        item["tenantRef"] = tenant_ref(record.tenant_id, record.client_reference)
    return item


class _Once:
    """The clauses that keep a signed report's nonce on its message (`reportNonces`, a string
    set), and refuse a report whose nonce is there already. Empty without a nonce."""

    def __init__(self, nonce: str | None) -> None:
        self.nonce = nonce
        self.add = " ADD reportNonces :nonces" if nonce else ""
        self.condition = " AND NOT contains(reportNonces, :nonce)" if nonce else ""
        self.values: dict[str, Any] = {":nonces": {"SS": [nonce]}, ":nonce": {"S": nonce}} if nonce else {}

    def taken_by(self, item: dict[str, Any]) -> bool:
        return self.nonce is not None and self.nonce in item.get("reportNonces", {}).get("SS", [])


def condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class MessageRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def create_claimed(self, record: MessageRecord, lease_s: int) -> MessageRecord | None:
        """Store a new message, claimed for its first attempt by the caller (see `claim`).

        None when a message with that id exists already (a duplicate delivery of a request).
        """
        claimed = record.model_copy(update={"attempts": record.attempts + 1})
        item = _message_item(claimed)
        item["leaseUntil"] = int(time.time() + lease_s)
        return claimed if self._put_new(item) else None

    def create(self, record: MessageRecord) -> bool:
        """Store a new message as it is, claimed by nobody: refused before any attempt, or held
        until it is due. False when a message with that id exists already."""
        return self._put_new(_message_item(record))

    def _put_new(self, item: dict[str, Any]) -> bool:
        try:
            self._db.put_item(
                TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def get_for_tenant(self, tenant_id: str, message_id: str) -> MessageRecord | None:
        """The message if it is this tenant's: another tenant's is as absent as an unknown id."""
        record = self.get(message_id)
        return record if record is not None and record.tenant_id == tenant_id else None

    def get(self, message_id: str) -> MessageRecord | None:
        if not is_message_id(message_id):
            return None
        answer = self._db.get_item(TableName=self._table, Key={"id": {"S": message_id}}, ConsistentRead=True)
        item = answer.get("Item")
        return MessageRecord.model_validate(from_item(item)) if item and _alive(item) else None

    def list_by_client_reference(
        self, tenant_id: str, client_reference: str, limit: int, start_after: dict[str, Any] | None = None
    ) -> tuple[list[MessageRecord], dict[str, Any] | None]:
        """One page of the tenant's messages, newest first, and the key to continue after it
        (None on the last page)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": CLIENT_REFERENCE_INDEX,
            "KeyConditionExpression": "tenantRef = :ref",
            "ExpressionAttributeValues": {":ref": {"S": tenant_ref(tenant_id, client_reference)}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start_after:
            query["ExclusiveStartKey"] = start_after
        answer = self._db.query(**query)
        records = [MessageRecord.model_validate(from_item(i)) for i in answer.get("Items", []) if _alive(i)]
        return records, answer.get("LastEvaluatedKey")

    def claim(self, message_id: str, lease_s: int) -> MessageRecord | None:
        """Take the right to send: only one sender at a time, and only before Sinch has it.

        The lease lets another sender take over if this one dies mid-send.
        """
        if not is_message_id(message_id):
            return None
        now = time.time()
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": message_id}},
                UpdateExpression="SET attempts = attempts + :one, leaseUntil = :until, updatedAt = :now",
                ConditionExpression="#s IN (:accepted, :retrying) AND "
                "(attribute_not_exists(leaseUntil) OR leaseUntil < :epoch)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":one": 1,
                        ":until": int(now + lease_s),
                        ":epoch": int(now),
                        ":now": utcnow().isoformat(),
                        ":accepted": Status.ACCEPTED.value,
                        ":retrying": Status.RETRYING.value,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return MessageRecord.model_validate(from_item(answer["Attributes"]))

    def transition(
        self,
        message_id: str,
        status: Status,
        *,
        code: int | str | None = None,
        detail: str | None = None,
        at: Any = None,
        clear: tuple[str, ...] = (),
        **fields: Any,
    ) -> Transition:
        """Move the message to `status` if that is forward (see `advance`)."""
        event = StatusEvent(status=status, at=at or utcnow(), code=code, detail=detail)
        return self.advance(message_id, event, clear=clear, **fields).transition

    def advance(
        self,
        message_id: str,
        event: StatusEvent,
        *,
        clear: tuple[str, ...] = (),
        once: str | None = None,
        **fields: Any,
    ) -> Advanced:
        """Move the message to `event.status` if that is forward, and record the event; set
        `fields` and remove the attributes named in `clear`.

        A retry may repeat `retrying`; any other status must rank strictly higher. Setting a
        status also ends a sender's lease. `once` is a signed report's nonce: the message keeps
        the nonces of the reports it took, and refuses one it holds already (REPLAYED, nothing
        written), so a replay costs no item of its own. One conditional write, which also returns
        the message when it made it final.
        """
        if not is_message_id(message_id):
            return Advanced(Transition.MISSING)
        status, now = event.status, utcnow()
        updates = {
            "status": status.value,
            "statusRank": status.rank,
            "updatedAt": now.isoformat(),
            **{k: v for k, v in fields.items() if v is not None},
        }
        names = {f"#f{i}": k for i, k in enumerate(updates)}
        values = {f":v{i}": v for i, v in enumerate(updates.values())}
        set_clause = ", ".join(f"#f{i} = :v{i}" for i in range(len(updates)))
        rank_test = "<=" if status in SENDABLE_STATUSES else "<"
        names.update({f"#r{i}": name for i, name in enumerate(clear)})
        removed = ", ".join(["leaseUntil", *(f"#r{i}" for i in range(len(clear)))])
        nonce = _Once(once)
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": message_id}},
                UpdateExpression=(
                    f"SET {set_clause}, events = list_append(events, :event) REMOVE {removed}{nonce.add}"
                ),
                ConditionExpression=(
                    f"attribute_exists(statusRank) AND statusRank {rank_test} :rank{nonce.condition}"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    **to_item(
                        {
                            **values,
                            ":rank": status.rank,
                            ":event": [event.model_dump(mode="json", exclude_none=True)],
                        }
                    ),
                    **nonce.values,
                },
                ReturnValues="ALL_NEW" if status.is_final else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                # Only messages have a statusRank: any other item is no message of ours.
                old = exc.response.get("Item")
                if not (isinstance(old, dict) and "statusRank" in old):
                    return Advanced(Transition.MISSING)
                return Advanced(Transition.REPLAYED if nonce.taken_by(old) else Transition.STALE)
            raise
        item = answer.get("Attributes")
        return Advanced(Transition.MOVED, MessageRecord.model_validate(from_item(item)) if item else None)

    def append_event(self, message_id: str, event: StatusEvent, *, once: str | None = None) -> bool:
        """Add an event that changes nothing else (not even updatedAt, which dates the status).

        False when there is no such message, it holds MAX_EVENTS events already, or it took a
        report with the nonce `once` before (see `advance`).
        """
        if not is_message_id(message_id):
            return False
        nonce = _Once(once)
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": message_id}},
                UpdateExpression=f"SET events = list_append(events, :event){nonce.add}",
                ConditionExpression=f"attribute_exists(statusRank) AND size(events) < :max{nonce.condition}",
                ExpressionAttributeValues={
                    **to_item(
                        {":event": [event.model_dump(mode="json", exclude_none=True)], ":max": MAX_EVENTS}
                    ),
                    **nonce.values,
                },
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def set_batch(self, message_id: str, batch_id: str) -> None:
        """Record Sinch's batch id even when a delivery report already moved the status on."""
        self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": message_id}},
            UpdateExpression="SET batchId = :b, updatedAt = :now REMOVE leaseUntil",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues=to_item({":b": batch_id, ":now": utcnow().isoformat()}),
        )
