"""boto3 clients for the local AWS emulation (moto), never for a real account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

    from devstack.stream_poller import DynamoDBStreamsClient

# moto accepts any credentials; fixed fake ones keep a developer's real ones out of the picture.
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - not a secret


@overload
def client(service: Literal["sqs"], endpoint_url: str, region: str) -> SQSClient: ...
@overload
def client(service: Literal["dynamodb"], endpoint_url: str, region: str) -> DynamoDBClient: ...
@overload
def client(service: Literal["apigateway"], endpoint_url: str, region: str) -> APIGatewayClient: ...
@overload
def client(service: Literal["dynamodbstreams"], endpoint_url: str, region: str) -> DynamoDBStreamsClient: ...
@overload
def client(service: Literal["s3"], endpoint_url: str, region: str) -> S3Client: ...
@overload
def client(service: Literal["secretsmanager"], endpoint_url: str, region: str) -> SecretsManagerClient: ...
# No stubs installed for these two: the local stack's principals (devstack.iam_principals).
@overload
def client(service: Literal["iam", "sts"], endpoint_url: str, region: str) -> Any: ...


def client(service: str, endpoint_url: str, region: str) -> Any:
    return _client(service, endpoint_url, region, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY)


def publisher(state: Mapping[str, Any], tenant: int = 0) -> SQSClient:
    """An SQS client signed by a local tenant's publisher (its `queue_credentials` in stack.json
    `state`): SendQueue takes its requests as that tenant's."""
    credentials = state["tenants"][tenant]["queue_credentials"]
    sqs: SQSClient = _client(
        "sqs",
        state["aws_endpoint_url"],
        state["region"],
        credentials["access_key_id"],
        credentials["secret_access_key"],
    )
    return sqs


def _client(service: str, endpoint_url: str, region: str, access_key_id: str, secret_access_key: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
    )
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=50)
    return session.client(service, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]
