"""The peer of `make bench`: the lean handler's job done the way a user would likely write it, with
boto3 and Sinch's official SDK (`sinch` from PyPI).

Runs only in the bench's own virtual environment (.venv-bench-sdk, which `make bench` makes), never
in the project's: the SDK is not one of our dependencies. Same calls, same order and same output as
devstack/bench_lean.py. Not type-checked (the SDK has no types).
"""

# mypy: ignore-errors
from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from sinch import SinchClient

_dynamodb = boto3.client("dynamodb")
_secrets = boto3.client("secretsmanager")
_sinch: Any = None


def _client(secret: dict[str, Any]) -> Any:
    global _sinch  # noqa: PLW0603 - one client per container, built once the secret is known
    if _sinch is None:
        _sinch = SinchClient(
            service_plan_id=secret["service_plan_id"], sms_api_token=secret["api_token"], sms_region="us"
        )
        _sinch.configuration.sms_domain_with_service_plan_id = secret["base_url"].rstrip("/")
    return _sinch


def lambda_handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    tenant_id = event["requestContext"]["identity"]["apiKeyId"]
    request = json.loads(event["body"])
    tenant = _dynamodb.get_item(
        TableName=os.environ["TENANTS_TABLE"], Key={"tenantId": {"S": tenant_id}}, ConsistentRead=True
    )
    if "Item" not in tenant:
        return {"statusCode": 403, "body": "{}"}
    message_id, now = str(uuid.uuid4()), datetime.now(UTC).isoformat()
    where = event["requestContext"]
    public = os.environ.get("PUBLIC_BASE_URL") or f"https://{where['domainName']}/{where['stage']}"
    table = os.environ["MESSAGES_TABLE"]
    _dynamodb.put_item(
        TableName=table,
        Item={
            "id": {"S": message_id},
            "tenantId": {"S": tenant_id},
            "to": {"S": request["to"]},
            "text": {"S": request["text"]},
            "status": {"S": "accepted"},
            "createdAt": {"S": now},
        },
        ConditionExpression="attribute_not_exists(id)",
    )
    secret = json.loads(_secrets.get_secret_value(SecretId=os.environ["SINCH_SECRET_ID"])["SecretString"])
    batch = _client(secret).sms.batches.send_sms(
        to=[request["to"]],
        from_=secret["from_number"],
        body=request["text"],
        client_reference=message_id,
        delivery_report="per_recipient",
        callback_url=f"{public.rstrip('/')}/v1/webhooks/sinch/delivery-reports",
    )
    _dynamodb.update_item(
        TableName=table,
        Key={"id": {"S": message_id}},
        UpdateExpression="SET #s = :s, batchId = :b",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "submitted"}, ":b": {"S": batch.id}},
    )
    return {"statusCode": 202, "body": json.dumps({"id": message_id, "status": "submitted"})}


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as file:
        print(json.dumps(lambda_handler(json.load(file))))
