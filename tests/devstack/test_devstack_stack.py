"""devstack.stack: a whole local stack, in-process, from a small template with a throwaway function."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devstack import aws
from devstack.stack import LocalStack, StackConfig

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  PublicBaseUrl:
    Type: String
    Default: ""
  AllowHttpMedia:
    Type: String
    Default: "false"
Globals:
  Function:
    Runtime: python3.11
    Timeout: 10
    Environment:
      Variables:
        TABLE: !Ref Table
        SECRET: !Ref SinchSecret
        PUBLIC: !Ref PublicBaseUrl
        HTTP_MEDIA: !Ref AllowHttpMedia
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v
      Auth:
        ApiKeyRequired: true
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.lambda_handler
      Events:
        Get:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /things/{id}
            Method: get
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  TenantsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: tenantId, AttributeType: S}]
      KeySchema: [{AttributeName: tenantId, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
  SinchSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"region": "us"}'
        GenerateStringKey: webhook_secret
"""

HANDLER = """
import json, os
import boto3

def lambda_handler(event, context):
    if "Records" in event:
        table = boto3.client("dynamodb")
        for record in event["Records"]:
            table.put_item(TableName=os.environ["TABLE"], Item={"id": {"S": record["body"]}})
        return {"batchItemFailures": []}
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SECRET"])["SecretString"]
    )
    body = {
        "id": event["pathParameters"]["id"],
        "sinch": secret["base_url"],
        "plan": secret["service_plan_id"],
        "public": os.environ["PUBLIC"],
        "http_media": os.environ["HTTP_MEDIA"],
    }
    headers = {"Content-Type": ["application/json"]}
    return {"statusCode": 200, "multiValueHeaders": headers, "body": json.dumps(body)}
"""


def get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    split = urlsplit(url)
    connection = http.client.HTTPConnection(split.netloc, timeout=20)
    try:
        connection.request("GET", split.path, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_local_stack_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(HANDLER)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    state_dir = tmp_path / "state"
    config = StackConfig(
        template_path=tmp_path / "template.yaml",
        state_dir=state_dir,
        api_port=0,
        aws_port=0,
        sinch_port=0,
        stack_name=f"it-{uuid.uuid4().hex[:8]}",  # moto's state is per process
        pool_size=1,
        report=False,
        access_log=False,
    )
    lines: list[str] = []
    with LocalStack(config, log=lines.append) as stack:
        state = json.loads((state_dir / "stack.json").read_text())
        for key in ("api_url", "api_key", "aws_endpoint_url", "region", "sinch_url", "secret_id"):
            assert state[key], key
        assert state["region"] == "us-east-1"
        assert state["api_url"].startswith("http://127.0.0.1:")

        status, body = get(f"{state['api_url']}/things/42", {})
        assert (status, body) == (403, {"message": "Forbidden"})
        acme, globex = state["tenants"]
        assert (acme["name"], globex["name"]) == ("acme", "globex")
        assert state["api_key"] == acme["api_key"] != globex["api_key"]
        assert acme["callback_secret"] and acme["callback_secret"] != globex["callback_secret"]
        for tenant in (acme, globex):
            status, body = get(f"{state['api_url']}/things/42", {"x-api-key": tenant["api_key"]})
            assert status == 200, (body, lines)
        assert body == {
            "id": "42",
            "sinch": state["sinch_url"],
            "plan": "local-plan",
            "public": state["api_url"],  # PublicBaseUrl is the local API
            "http_media": "true",
        }

        sqs = aws.client("sqs", state["aws_endpoint_url"], "us-east-1")
        queue_url = state["queues"]["Queue"]
        sqs.send_message(QueueUrl=queue_url, MessageBody="from-the-queue")
        dynamodb = aws.client("dynamodb", state["aws_endpoint_url"], "us-east-1")
        table = state["tables"]["Table"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if dynamodb.get_item(TableName=table, Key={"id": {"S": "from-the-queue"}}).get("Item"):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the poller never delivered the message: {lines}")

        secret = json.loads(
            aws.client("secretsmanager", state["aws_endpoint_url"], "us-east-1").get_secret_value(
                SecretId=state["secret_id"]
            )["SecretString"]
        )
        assert set(secret) == {
            "service_plan_id",
            "api_token",
            "region",
            "base_url",
            "from_number",
            "mms_api_key",
            "mms_service_id",
            "mms_url",
        }
        assert secret["mms_url"] == f"{state['sinch_url']}/ep/v2/"
        assert state["webhook_secret_id"] is None  # this template keeps no webhook secret
        assert stack.state()["functions"]["Fn"]["coldStarts"] == 1
        # Each function's log, besides the stack's output (REPORT lines included, as on Lambda).
        assert "REPORT RequestId:" in (Path(state["logs_dir"]) / "Fn.log").read_text()
        assert state["traces_file"] == str(state_dir / "traces.jsonl")
    assert not (state_dir / "stack.json").exists()
