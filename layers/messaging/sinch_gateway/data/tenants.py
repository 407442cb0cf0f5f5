"""Tenants: each API key is one client application, with its own messages and sending policy.

The tenant id is the API key's id as API Gateway passes it (requestContext.identity.apiKeyId).
A tenant's item in TenantsTable holds its policy; a key with no item gets the default policy
(every country, MMS allowed), so a key made outside our tooling still works.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from sinch_gateway.api.models import Channel
from sinch_gateway.domain.errors import DestinationNotAllowed, MmsNotAllowed
from sinch_gateway.domain.phone import country_label, region_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The bound of an API key id in API Gateway is 10 characters; a little room for other stores.
MAX_TENANT_ID_CHARS = 64


class TenantPolicy(BaseModel):
    """What a tenant may send. Kept in DynamoDB, so it is edited without a deploy."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    # None: every country. A set of ISO 3166 region codes ("US", "AU") otherwise: the guard
    # against SMS pumping to premium destinations nobody meant to text.
    allowed_countries: frozenset[str] | None = None
    mms_allowed: bool = True

    @field_validator("allowed_countries")
    @classmethod
    def _upper_case(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        # Not refused here: a hand-edited item with a code no number has only allows less.
        return None if value is None else frozenset(code.strip().upper() for code in value)

    def check(self, to: str, channel: Channel) -> None:
        """Raise the problem the caller should hear when this policy refuses the message."""
        if channel is Channel.MMS and not self.mms_allowed:
            raise MmsNotAllowed(
                "MMS is not enabled for this API key.",
                errors=[("mediaUrl", "MMS is not enabled for this API key; send an SMS instead")],
            )
        if self.allowed_countries is None:
            return
        if region_of(to) not in self.allowed_countries:
            label = country_label(to)
            raise DestinationNotAllowed(
                f"This API key may not send to {label}.",
                errors=[("to", f"{label} is not among the destinations allowed for this API key")],
            )


class Tenant(BaseModel):
    """A tenant's item in TenantsTable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    tenant_id: str = Field(min_length=1, max_length=MAX_TENANT_ID_CHARS)
    name: str = Field(min_length=1, max_length=128)
    policy: TenantPolicy = Field(default_factory=TenantPolicy)
    callback_secret: str | None = Field(default=None, repr=False)
    created_at: str | None = None


def tenant_to_item(tenant: Tenant) -> dict[str, Any]:
    """The DynamoDB item of a tenant (the low-level client's typed form)."""
    item: dict[str, Any] = {
        "tenantId": {"S": tenant.tenant_id},
        "name": {"S": tenant.name},
        "mmsAllowed": {"BOOL": tenant.policy.mms_allowed},
    }
    if tenant.policy.allowed_countries is not None:
        # A list, not a string set: DynamoDB refuses an empty set, and "no country" is a policy.
        item["allowedCountries"] = {"L": [{"S": c} for c in sorted(tenant.policy.allowed_countries)]}
    if tenant.callback_secret:
        item["callbackSecret"] = {"S": tenant.callback_secret}
    if tenant.created_at:
        item["createdAt"] = {"S": tenant.created_at}
    return item


def tenant_from_item(item: dict[str, Any]) -> Tenant:
    countries = item.get("allowedCountries")
    policy = TenantPolicy(
        allowed_countries=None if countries is None else frozenset(v["S"] for v in countries["L"]),
        mms_allowed=item.get("mmsAllowed", {}).get("BOOL", True),
    )
    return Tenant(
        tenant_id=item["tenantId"]["S"],
        name=item.get("name", {}).get("S", item["tenantId"]["S"]),
        policy=policy,
        callback_secret=item.get("callbackSecret", {}).get("S"),
        created_at=item.get("createdAt", {}).get("S"),
    )


@dataclass
class _Cached:
    tenant: Tenant | None
    until: float


class TenantDirectory:
    """Tenants by id, read from TenantsTable and kept `cache_s` seconds per container.

    Misses are cached too: traffic from a key with no item must not cost a read per request.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = client
        self._table = table
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[str, _Cached] = {}

    def get(self, tenant_id: str) -> Tenant | None:
        now = self._clock()
        cached = self._cache.get(tenant_id)
        if cached is not None and now < cached.until:
            return cached.tenant
        tenant = self._read(tenant_id)
        self._cache[tenant_id] = _Cached(tenant, now + self._cache_s)
        return tenant

    def policy(self, tenant_id: str) -> TenantPolicy:
        tenant = self.get(tenant_id)
        return tenant.policy if tenant is not None else TenantPolicy()

    def _read(self, tenant_id: str) -> Tenant | None:
        if not 0 < len(tenant_id) <= MAX_TENANT_ID_CHARS:
            return None
        answer = self._db.get_item(
            TableName=self._table, Key={"tenantId": {"S": tenant_id}}, ConsistentRead=True
        )
        item = answer.get("Item")
        return tenant_from_item(item) if item else None
