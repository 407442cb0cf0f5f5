"""boto3 clients, created lazily and once per container: client creation dominates cold start."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

# Short timeouts: an API answer must not wait out botocore's 60 s defaults.
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    return boto3.session.Session().client("dynamodb", config=_CONFIG)


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    return boto3.session.Session().client("sqs", config=_CONFIG)
