"""The lean baseline of `make bench`: SendFunction's POST /v1/messages for one SMS, by hand.

The same AWS and Sinch calls the real handler makes for one SMS, in the same order, with botocore
and urllib3 only: the tenant's record (DynamoDB GetItem), the message (PutItem, conditional), the
Sinch secret (Secrets Manager), the batch (POST /xms/v1/{plan}/batches) and the outcome (UpdateItem).
No validation beyond what it takes not to crash, no logging, no tracing: the floor a function doing
this job could reach. Run in a fresh interpreter as `python bench_lean.py EVENT.json` with the
function's environment; prints the proxy response. Never imports the product or the devstack, so
that its cold start is its own.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import botocore.session
import urllib3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

_session = botocore.session.get_session()
_config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
_dynamodb = cast("DynamoDBClient", _session.create_client("dynamodb", config=_config))
_secrets = cast("SecretsManagerClient", _session.create_client("secretsmanager", config=_config))
_http = urllib3.PoolManager(retries=False)


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
    base = secret["base_url"].rstrip("/")
    answer = _http.request(
        "POST",
        f"{base}/xms/v1/{secret['service_plan_id']}/batches",
        body=json.dumps(
            {
                "to": [request["to"]],
                "from": secret["from_number"],
                "body": request["text"],
                "client_reference": message_id,
                "delivery_report": "per_recipient",
                "callback_url": f"{public.rstrip('/')}/v1/webhooks/sinch/delivery-reports",
            }
        ).encode(),
        headers={"Authorization": f"Bearer {secret['api_token']}", "Content-Type": "application/json"},
        timeout=urllib3.Timeout(connect=2, read=10),
    )
    if answer.status != 201:
        raise RuntimeError(f"Sinch answered {answer.status}: {answer.data[:300]!r}")
    batch_id = json.loads(answer.data)["id"]
    _dynamodb.update_item(
        TableName=table,
        Key={"id": {"S": message_id}},
        UpdateExpression="SET #s = :s, batchId = :b",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "submitted"}, ":b": {"S": batch_id}},
    )
    return {"statusCode": 202, "body": json.dumps({"id": message_id, "status": "submitted"})}


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as file:
        print(json.dumps(lambda_handler(json.load(file))))
