"""DynamoDB persistence of batches (BatchesTable, one item per batch). A batch's recipients'
messages are ordinary messages in MessagesTable, each with the batch's id (gatewayBatchId), listed
and counted through its byBatch index."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from sinch_gateway.data.messages import _alive, condition_failed, from_item, is_message_id, to_item
from sinch_gateway.domain.batches import BatchRecord, BatchStatus
from sinch_gateway.domain.content import MessageContent
from sinch_gateway.domain.message import sortable_time, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONTENT: TypeAdapter[MessageContent] = TypeAdapter(MessageContent)


def batch_item(batch: BatchRecord, keep_days: int) -> dict[str, Any]:
    """The item a batch is stored as; it expires with its messages (MESSAGE_TTL_DAYS)."""
    optional = {
        "clientReference": batch.client_reference,
        "sendAt": sortable_time(batch.send_at) if batch.send_at else None,
        "expireAt": sortable_time(batch.expire_at) if batch.expire_at else None,
        "statusCallbackUrl": batch.status_callback_url,
    }
    return to_item(
        {
            "id": batch.id,
            "tenantId": batch.tenant_id,
            "content": _CONTENT.dump_python(batch.content, mode="json", by_alias=True, exclude_none=True),
            "recipients": batch.recipients,
            "refused": batch.refused,
            "slices": batch.slices,
            "webhookUrl": batch.webhook_url,
            "defaults": dict(batch.defaults),
            "status": batch.status.value,
            "createdAt": sortable_time(batch.created_at),
            "updatedAt": sortable_time(batch.updated_at),
            "ttl": int((batch.created_at + timedelta(days=keep_days)).timestamp()),
            **{k: v for k, v in optional.items() if v is not None},
        }
    )


def batch_record(item: dict[str, Any]) -> BatchRecord:
    values = from_item(item)

    def time_of(name: str) -> datetime | None:
        return datetime.fromisoformat(values[name]) if values.get(name) else None

    created_at, updated_at = time_of("createdAt"), time_of("updatedAt")
    assert created_at is not None and updated_at is not None  # batch_item writes both
    return BatchRecord(
        id=values["id"],
        tenant_id=values["tenantId"],
        content=_CONTENT.validate_python(values["content"]),
        recipients=int(values["recipients"]),
        refused=int(values["refused"]),
        slices=int(values["slices"]),
        webhook_url=values["webhookUrl"],
        defaults=dict(values.get("defaults") or {}),
        status=BatchStatus(values["status"]),
        client_reference=values.get("clientReference"),
        send_at=time_of("sendAt"),
        expire_at=time_of("expireAt"),
        status_callback_url=values.get("statusCallbackUrl"),
        created_at=created_at,
        updated_at=updated_at,
    )


class BatchRepository:
    def __init__(self, client: DynamoDBClient, table: str, keep_days: int) -> None:
        self._db = client
        self._table = table
        self._keep_days = keep_days

    def create(self, batch: BatchRecord) -> bool:
        """Record a new batch; False when one with its id exists already."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=batch_item(batch, self._keep_days),
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def get(self, batch_id: str) -> BatchRecord | None:
        # Batch ids are UUIDs, as message ids are: anything else is never sent to DynamoDB as a key.
        if not is_message_id(batch_id):
            return None
        answer = self._db.get_item(TableName=self._table, Key={"id": {"S": batch_id}}, ConsistentRead=True)
        item = answer.get("Item")
        return batch_record(item) if item and _alive(item) else None

    def get_for_tenant(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        """The batch if it is `tenant_id`'s; None for another tenant's, as for none."""
        batch = self.get(batch_id)
        return batch if batch is not None and batch.tenant_id == tenant_id else None

    def set_status(self, batch_id: str, status: BatchStatus) -> BatchRecord | None:
        """Move the batch to `status` unless it is cancelled already (a cancel is final); the
        batch as it now stands (None: no such batch)."""
        if not is_message_id(batch_id):
            return None
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": batch_id}},
                UpdateExpression="SET #status = :status, updatedAt = :now",
                ConditionExpression="attribute_exists(id) AND #status <> :cancelled",
                ExpressionAttributeNames={"#status": "status"},  # a word DynamoDB reserves
                ExpressionAttributeValues=to_item(
                    {
                        ":status": status.value,
                        ":now": sortable_time(utcnow()),
                        ":cancelled": BatchStatus.CANCELLED.value,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return self.get(batch_id)  # cancelled already, or none
            raise
        return batch_record(answer["Attributes"])
