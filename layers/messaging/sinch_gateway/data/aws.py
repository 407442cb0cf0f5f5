"""AWS clients, created lazily and once per container: client creation dominates cold start.

botocore's own, not boto3's: importing boto3 also imports s3transfer (and its multiprocessing and
concurrency machinery), which none of our functions use.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.session import Session
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient


@lru_cache(maxsize=1)
def _session() -> Session:
    import botocore.session

    return botocore.session.get_session()


def _client(service: str, **options: Any) -> Any:
    from botocore.config import Config

    # Short timeouts: an API answer must not wait out botocore's 60 s defaults.
    config = Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}, **options
    )
    return _session().create_client(service, config=config)


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb")
    return client


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    client: SQSClient = _client("sqs")
    return client


@lru_cache(maxsize=1)
def s3() -> S3Client:
    # SigV4 (the only signature S3 takes for presigned URLs in newer regions, up to 7 days).
    client: S3Client = _client("s3", signature_version="s3v4")
    return client


@lru_cache(maxsize=1)
def secretsmanager() -> SecretsManagerClient:
    client: SecretsManagerClient = _client("secretsmanager")
    return client
