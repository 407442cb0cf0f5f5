"""Sinch's HMAC callback signature: Base64(HMAC-SHA256(secret, "<body>.<nonce>.<timestamp>")) in
`x-sinch-webhook-signature`, as Sinch's SDKs verify it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from .common import new_ulid

SIGNATURE = "x-sinch-webhook-signature"
NONCE = "x-sinch-webhook-signature-nonce"
TIMESTAMP = "x-sinch-webhook-signature-timestamp"
ALGORITHM = "x-sinch-webhook-signature-algorithm"


def signature(secret: str, body: bytes, nonce: str, timestamp: str) -> str:
    """Base64(HMAC-SHA256(secret, "{raw body}.{nonce}.{timestamp}"))."""
    signed = body + b"." + nonce.encode() + b"." + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def signature_headers(secret: str, body: bytes) -> dict[str, str]:
    """Headers for one attempt: every attempt gets a fresh nonce and timestamp, as Sinch's do."""
    nonce, timestamp = new_ulid(), str(int(time.time()))
    return {
        NONCE: nonce,
        TIMESTAMP: timestamp,
        ALGORITHM: "HmacSHA256",
        SIGNATURE: signature(secret, body, nonce, timestamp),
    }
