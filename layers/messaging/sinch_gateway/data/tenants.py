"""Tenants in TenantsTable, read by id and cached.

A tenant's item in TenantsTable holds its policy; a key with no item gets the default policy
(every country, MMS allowed), so a key made outside our tooling still works.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sinch_gateway.domain.tenants import (
    MAX_RATE_WEIGHT,
    MAX_TENANT_ID_CHARS,
    MIN_RATE_WEIGHT,
    Tenant,
    TenantPolicy,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


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
    item.update(_rate_share_attributes(tenant.policy))
    if tenant.created_at:
        item["createdAt"] = {"S": tenant.created_at}
    return item


def tenant_from_item(item: dict[str, Any]) -> Tenant:
    countries = item.get("allowedCountries")
    policy = TenantPolicy(
        allowed_countries=None if countries is None else frozenset(v["S"] for v in countries["L"]),
        mms_allowed=item.get("mmsAllowed", {}).get("BOOL", True),
        **_rate_share_fields(item),
    )
    return Tenant(
        tenant_id=item["tenantId"]["S"],
        name=item.get("name", {}).get("S", item["tenantId"]["S"]),
        policy=policy,
        callback_secret=item.get("callbackSecret", {}).get("S"),
        created_at=item.get("createdAt", {}).get("S"),
    )


# The tenant's share of Sinch's rate: absent attributes are the defaults (weight 1, no cap).
def _rate_share_attributes(policy: TenantPolicy) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if policy.rate_weight != 1.0:
        item["rateWeight"] = {"N": repr(policy.rate_weight)}
    if policy.rate_cap_per_s is not None:
        item["rateCapPerSecond"] = {"N": repr(policy.rate_cap_per_s)}
    return item


def _rate_share_fields(item: dict[str, Any]) -> dict[str, Any]:
    """A hand-edited value out of bounds counts as absent: the tenant keeps sending at the
    default share rather than not at all."""
    fields: dict[str, Any] = {}
    weight = _stored_number(item, "rateWeight")
    if weight is not None and MIN_RATE_WEIGHT <= weight <= MAX_RATE_WEIGHT:
        fields["rate_weight"] = weight
    cap = _stored_number(item, "rateCapPerSecond")
    if cap is not None and cap > 0 and math.isfinite(cap):
        fields["rate_cap_per_s"] = cap
    return fields


def _stored_number(item: dict[str, Any], name: str) -> float | None:
    try:
        return float(item[name]["N"])
    except (KeyError, TypeError, ValueError):
        return None


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
