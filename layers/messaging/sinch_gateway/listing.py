"""Listing messages by clientReference, a page at a time, with an opaque continuation token."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sinch_gateway.errors import InvalidRequest
from sinch_gateway.models import MessagePage
from sinch_gateway.repository import MessageRepository, tenant_ref


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_token(token: str, listing_key: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = None
    # A token is only good for the listing that made it.
    if not isinstance(key, dict) or key.get("tenantRef", {}).get("S") != listing_key:
        raise InvalidRequest(
            "The nextToken is not one this listing gave.",
            errors=[("nextToken", "is not a valid continuation token")],
        )
    return key


def page_by_client_reference(
    repository: MessageRepository, tenant_id: str, client_reference: str, limit: int, next_token: str | None
) -> MessagePage:
    start = decode_token(next_token, tenant_ref(tenant_id, client_reference)) if next_token else None
    records, last_key = repository.list_by_client_reference(tenant_id, client_reference, limit, start)
    return MessagePage(
        items=[r.view() for r in records], next_token=encode_token(last_key) if last_key else None
    )
