"""Checked media in S3: one object per file, linked to Sinch by presigned GET URLs.

The bucket's lifecycle rule deletes each object once no message can still be sent with it
(template.yaml, MediaBucket); nothing here deletes.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# 256 random bits: a key cannot be guessed, and says nothing of the tenant, number or URL.
_KEY_BYTES = 32


class S3Media:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def keep(self, body: bytes, content_type: str) -> str:
        key = f"media/{secrets.token_urlsafe(_KEY_BYTES)}"
        # Encrypted by the bucket's default (SSE-S3): a GET through a presigned URL needs nothing more.
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)
        return key

    def link(self, key: str, expires_in_s: int) -> str:
        # Signed locally: no call to S3. S3 checks the signer's s3:GetObject when Sinch fetches.
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in_s
        )
        return url
