"""Listings of a tenant's messages (through the byTenant index, byClientReference for one
clientReference, or byBatch for one batch) and inbound messages (byClientReference), a page at a
time, with an opaque continuation token: DynamoDB's key to continue after, checked before DynamoDB
ever sees it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sinch_gateway.api.models import InboundPage, MessagePage, inbound_view, summary_view
from sinch_gateway.data.inbound import InboundRepository, inbox_ref, is_inbound_item_id
from sinch_gateway.data.messages import MessageRepository, is_message_id, tenant_ref
from sinch_gateway.domain.errors import InvalidRequest, InvalidToken
from sinch_gateway.domain.listing import MessageFilter
from sinch_gateway.domain.status import Status

MAX_TOKEN_CHARS = 2048
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


# createdAt as the gateway writes it (a datetime as pydantic writes it): ASCII digits only, where "\d" would
# also take other scripts' digits.
_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)


class _String(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    S: str = Field(min_length=1, max_length=1024)


class _Timestamp(_String):
    # The index's sort key: DynamoDB refuses one past 1,024 bytes (a ValidationException, a 500
    # here), which 1,024 characters of "é" are. Only the timestamps the listing gave pass.
    S: str = Field(pattern=_TIMESTAMP)


class _PageKey(BaseModel):
    """DynamoDB's LastEvaluatedKey of a listing's index: the table's key (id) and the index's
    (its partition key, named by the subclass, and createdAt)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: _String
    createdAt: _Timestamp  # noqa: N815  # DynamoDB's attribute name

    @property
    def listing(self) -> str:
        """The value of the index's partition key: which listing gave the key."""
        return str(next(v.S for k, v in self if k not in ("id", "createdAt")))


class _ReferencePageKey(_PageKey):
    """byClientReference's."""

    tenantRef: _String  # noqa: N815


class _TenantPageKey(_PageKey):
    """byTenant's."""

    messageTenant: _String  # noqa: N815


class _BatchPageKey(_PageKey):
    """byBatch's."""

    gatewayBatchId: _String  # noqa: N815


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_token(
    token: str,
    listing_key: str,
    is_item_id: Callable[[str], bool] = is_message_id,
    *,
    by_tenant: bool = False,
    by_batch: bool = False,
    window: MessageFilter | None = None,
) -> dict[str, Any]:
    """The page key in `token`, or InvalidToken: whatever it holds never reaches DynamoDB
    unless it is exactly the shape of a key this listing (its index, its index key, and the ids
    of the items it lists) gave, and lies within the listing's time `window` (DynamoDB refuses a
    start key outside the key condition: a 500 here)."""
    shape: type[_PageKey] = _TenantPageKey if by_tenant else _BatchPageKey if by_batch else _ReferencePageKey
    try:
        if len(token) > MAX_TOKEN_CHARS or not _BASE64URL.fullmatch(token):
            raise ValueError("not base64url")
        key = shape.model_validate_json(base64.urlsafe_b64decode(token))
    except (binascii.Error, ValueError, ValidationError):
        key = None
    # A token is only good for the listing that made it.
    if (
        key is None
        or listing_key != key.listing
        or not is_item_id(key.id.S)
        or (window is not None and not window.holds(key.createdAt.S))
    ):
        raise InvalidToken(
            "The nextToken is not one this listing gave; list again without it.",
            errors=[("nextToken", "is not a valid continuation token")],
        )
    return key.model_dump()


def message_filter(
    client_reference: str | None,
    status: Status | None,
    to: str | None,
    since: datetime | None,
    until: datetime | None,
    *,
    batch_id: str | None = None,
) -> MessageFilter:
    if since is not None and until is not None and since >= until:
        raise InvalidRequest(
            "The time window is empty: since must be earlier than until.",
            errors=[("until", "must be later than since")],
        )
    return MessageFilter(client_reference, status, to, since, until, batch_id)


def page_messages(
    repository: MessageRepository, tenant_id: str, which: MessageFilter, limit: int, next_token: str | None
) -> MessagePage:
    """A page of the tenant's messages; with a batch (which the caller checked is the tenant's),
    through byBatch, a token then being good for that batch only."""
    start = None
    if next_token and which.batch_id is not None:
        start = decode_token(next_token, which.batch_id, by_batch=True, window=which)
    elif next_token and which.client_reference is None:
        start = decode_token(next_token, tenant_id, by_tenant=True, window=which)
    elif next_token and which.client_reference is not None:
        start = decode_token(next_token, tenant_ref(tenant_id, which.client_reference), window=which)
    summaries, last_key = repository.list_for_tenant(tenant_id, which, limit, start)
    return MessagePage(
        items=[summary_view(s) for s in summaries], next_token=encode_token(last_key) if last_key else None
    )


def page_inbound(
    repository: InboundRepository, tenant_id: str, limit: int, next_token: str | None
) -> InboundPage:
    start = decode_token(next_token, inbox_ref(tenant_id), is_inbound_item_id) if next_token else None
    messages, last_key = repository.list_for_tenant(tenant_id, limit, start)
    return InboundPage(
        items=[inbound_view(m) for m in messages], next_token=encode_token(last_key) if last_key else None
    )
