"""devstack.resources: the real template's tables, queues, secrets and buckets, created in moto."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from devstack import aws
from devstack.resources import create_resources, creation_order
from devstack.template import Template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_the_template_bucket_policy_refuses_plain_http(endpoint: str) -> None:
    """The TLS-only statement as the template writes it bites: moto, reached over http, refuses
    a write under it (which is why the local stack leaves that statement out)."""
    template = Template(TEMPLATE, stack_name=f"t-{uuid.uuid4().hex[:8]}")
    created = create_resources(template, endpoint)
    bucket = created.buckets["MediaBucket"]
    policy = template.resolve(template.properties("MediaBucketPolicy"))["PolicyDocument"]
    s3 = aws.client("s3", endpoint, "us-east-1")
    s3.put_bucket_policy(Bucket=bucket.name, Policy=json.dumps(policy))
    with pytest.raises(ClientError, match=r"Forbidden|AccessDenied"):
        s3.put_object(Bucket=bucket.name, Key="media/x", Body=b"x")


def test_dead_letter_queue_is_created_first() -> None:
    order = creation_order(Template(TEMPLATE))
    assert order.index("DeadLetterQueue") < order.index("SendQueue")
    assert set(order) >= {"MessagesTable", "SendQueue", "DeadLetterQueue", "SinchSecret"}


def test_create_the_template_resources(endpoint: str) -> None:
    stack = f"t-{uuid.uuid4().hex[:8]}"  # moto's state is per process: keep names apart
    template = Template(TEMPLATE, stack_name=stack)
    created = create_resources(template, endpoint)

    table = created.tables["MessagesTable"]
    assert table.name == f"{stack}-MessagesTable"
    dynamodb = aws.client("dynamodb", endpoint, "us-east-1")
    description = dynamodb.describe_table(TableName=table.name)["Table"]
    assert description["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}

    sqs = aws.client("sqs", endpoint, "us-east-1")
    send, dlq = created.queues["SendQueue"], created.queues["DeadLetterQueue"]
    assert send.name == f"{stack}-SendQueue"
    attributes = sqs.get_queue_attributes(QueueUrl=send.url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "90"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 5}

    secrets = aws.client("secretsmanager", endpoint, "us-east-1")
    secret = created.secrets["SinchSecret"]
    value = json.loads(secrets.get_secret_value(SecretId=secret.arn)["SecretString"])
    assert value == {"service_plan_id": "", "api_token": "", "region": "us", "from_number": ""}
    webhook = created.secrets["WebhookSecret"]
    generated = json.loads(secrets.get_secret_value(SecretId=webhook.arn)["SecretString"])
    assert set(generated) == {"webhook_secret"}
    assert len(generated["webhook_secret"]) == 48 and generated["webhook_secret"].isalnum()

    s3 = aws.client("s3", endpoint, "us-east-1")
    bucket = created.buckets["MediaBucket"]
    assert bucket.name == f"{stack}-mediabucket"  # buckets are named in lower case
    encryption = s3.get_bucket_encryption(Bucket=bucket.name)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    blocked = s3.get_public_access_block(Bucket=bucket.name)["PublicAccessBlockConfiguration"]
    assert all(blocked.values()) and len(blocked) == 4
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket.name)["Rules"]
    assert (rule["Status"], rule["Expiration"]["Days"]) == ("Enabled", 5)
    # moto on plain http: the TLS-only statement, which moto enforces, would deny every request.
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket.name)
    s3.put_object(Bucket=bucket.name, Key="media/x", Body=b"x")

    # Ref now resolves to the physical ids, as the functions' environment needs.
    env = template.function("SendFunction").environment
    assert env["SEND_QUEUE_URL"] == send.url
    assert env["SINCH_SECRET_ID"] == secret.arn
    assert env["MESSAGES_TABLE"] == table.name
    assert env["MEDIA_BUCKET"] == bucket.name
    assert template.function("WebhookFunction").environment["WEBHOOK_SECRET_ID"] == webhook.arn
