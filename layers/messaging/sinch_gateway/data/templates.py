"""MMS templates in MessagesTable, under ids no message can have (`template#<id>`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from sinch_gateway.data.messages import bookkeeping_id, condition_failed, from_item, is_message_id, to_item
from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.templates import MmsTemplate, TemplateStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _key(template_id: str) -> dict[str, Any]:
    return {"id": {"S": bookkeeping_id("template", template_id)}}


class TemplateRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def create(self, template: MmsTemplate) -> None:
        item = template.model_dump(mode="json", exclude_none=True)
        item["templateId"], item["id"] = item["id"], bookkeeping_id("template", template.id)
        self._db.put_item(
            TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(id)"
        )

    def get_for_tenant(self, tenant_id: str, template_id: str) -> MmsTemplate | None:
        """The template if it is this tenant's: another tenant's is as absent as an unknown id."""
        template = self.get(template_id)
        return template if template is not None and template.tenant_id == tenant_id else None

    def get(self, template_id: str) -> MmsTemplate | None:
        if not is_message_id(template_id):  # our template ids are UUIDs like message ids
            return None
        answer = self._db.get_item(TableName=self._table, Key=_key(template_id), ConsistentRead=True)
        item = answer.get("Item")
        if not item:
            return None
        values = from_item(item)
        values["id"] = values.pop("templateId")
        return MmsTemplate.model_validate(values)

    def settle(
        self,
        template_id: str,
        status: TemplateStatus,
        *,
        mms_id: str | None = None,
        tracking_id: str | None = None,
        error_code: str | None = None,
        error_text: str | None = None,
    ) -> bool:
        """Make a pending template ready or failed; False when it is not pending (any more)."""
        fields = {
            "status": status.value,
            "updatedAt": utcnow().isoformat(),
            "mmsId": mms_id,
            "trackingId": tracking_id,
            "errorCode": error_code,
            "errorText": error_text,
        }
        present = {k: v for k, v in fields.items() if v is not None}
        values = {f":v{i}": v for i, v in enumerate(present.values())}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(template_id),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(present))),
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status", **{f"#f{i}": k for i, k in enumerate(present)}},
                ExpressionAttributeValues=to_item({":pending": TemplateStatus.PENDING.value, **values}),
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def set_tracking(self, template_id: str, tracking_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_key(template_id),
            UpdateExpression="SET trackingId = :t",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":t": {"S": tracking_id}},
        )
