"""Authenticating Sinch callbacks: HMAC-SHA256 signatures as Sinch signs them (sinch-api.md §4.6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from sinch_gateway.errors import Unauthenticated

SIGNATURE = "x-sinch-webhook-signature"
NONCE = "x-sinch-webhook-signature-nonce"
TIMESTAMP = "x-sinch-webhook-signature-timestamp"


def signature(secret: str, body: str, nonce: str, timestamp: str) -> str:
    signed = f"{body}.{nonce}.{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def verify_signature(
    secret: str, body: str, headers: Mapping[str, str], *, now: float, tolerance_s: int
) -> None:
    """Raise Unauthenticated unless the request carries a fresh, valid signature."""
    lowered = {k.lower(): v for k, v in headers.items()}
    given, nonce, timestamp = lowered.get(SIGNATURE), lowered.get(NONCE), lowered.get(TIMESTAMP)
    if not (given and nonce and timestamp):
        raise Unauthenticated("The callback is not signed.")
    try:
        age = abs(now - float(timestamp))
    except ValueError:
        raise Unauthenticated("The signature timestamp is not a number.") from None
    if age > tolerance_s:
        # Outside the window a captured callback could be replayed.
        raise Unauthenticated("The signature timestamp is outside the accepted window.")
    if not hmac.compare_digest(signature(secret, body, nonce, timestamp), given):
        raise Unauthenticated("The signature does not match.")
