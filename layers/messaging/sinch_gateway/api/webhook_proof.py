"""The proof a Sinch webhook call offers, read from its HTTP headers: Sinch's signature headers and
`Authorization`."""

from __future__ import annotations

from collections.abc import Mapping

from sinch_gateway.domain.webhook_auth import WebhookProof

SIGNATURE = "x-sinch-webhook-signature"
NONCE = "x-sinch-webhook-signature-nonce"
TIMESTAMP = "x-sinch-webhook-signature-timestamp"
AUTHORIZATION = "authorization"


def offered_proof(headers: Mapping[str, str]) -> WebhookProof:
    """The proof in `headers`, whose names are case-insensitive. A header API Gateway passes under
    two spellings counts once, the later one (as its single-value map keeps a repeated header's last)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return WebhookProof(
        signature=lowered.get(SIGNATURE),
        nonce=lowered.get(NONCE),
        timestamp=lowered.get(TIMESTAMP),
        authorization=lowered.get(AUTHORIZATION),
    )
