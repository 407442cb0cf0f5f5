"""Tenants in TenantsTable, read by id and cached.

A tenant's item in TenantsTable holds its policy; a key with no item gets the default policy
(every country, MMS allowed), so a key made outside our tooling still works.

A second API key of a tenant (key rotation: API Gateway cannot change a key's value) has an alias
item, `{"tenantId": <its key id>, "aliasOf": <the tenant id>}`: reading it gives the tenant, so the
key acts as the tenant in every way (messages, policy, idempotency) until it is revoked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
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
    item.update(_identity_attributes(tenant))
    return item


def tenant_from_item(item: dict[str, Any]) -> Tenant:
    countries = item.get("allowedCountries")
    policy = TenantPolicy(
        allowed_countries=None if countries is None else frozenset(v["S"] for v in countries["L"]),
        mms_allowed=item.get("mmsAllowed", {}).get("BOOL", True),
        **_rate_share_fields(item),
    )
    policy = policy.model_copy(
        update={"publishers": _strings(item, "publishers"), "senders": _strings(item, "senders")}
    )
    until = item.get("previousCallbackSecretUntil", {}).get("S")
    return Tenant(
        tenant_id=item["tenantId"]["S"],
        name=item.get("name", {}).get("S", item["tenantId"]["S"]),
        policy=policy,
        callback_secret=item.get("callbackSecret", {}).get("S"),
        created_at=item.get("createdAt", {}).get("S"),
        previous_callback_secret=item.get("previousCallbackSecret", {}).get("S"),
        previous_callback_secret_until=datetime.fromisoformat(until) if until else None,
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


# --- identity: publishers, senders, rotated secrets and keys --------------------------------------


def _identity_attributes(tenant: Tenant) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, values in (("publishers", tenant.policy.publishers), ("senders", tenant.policy.senders)):
        if values:
            item[name] = {"L": [{"S": v} for v in sorted(values)]}
    if tenant.previous_callback_secret and tenant.previous_callback_secret_until is not None:
        item["previousCallbackSecret"] = {"S": tenant.previous_callback_secret}
        item["previousCallbackSecretUntil"] = {"S": tenant.previous_callback_secret_until.isoformat()}
    return item


def _strings(item: dict[str, Any], name: str) -> frozenset[str]:
    return frozenset(v["S"] for v in item.get(name, {}).get("L", []))


ALIAS_OF = "aliasOf"
# What SendFunction and QueueFunction read of a tenant: its policy, never its callback secrets.
# Their roles allow no other attribute (template.yaml, TenantPolicyRead).
POLICY_ATTRIBUTES = (
    "tenantId",
    "name",
    "allowedCountries",
    "mmsAllowed",
    "publishers",
    "senders",
    "rateWeight",
    "rateCapPerSecond",
    ALIAS_OF,
)
# What only CallbackFunction reads (and ops.tenants writes).
CALLBACK_ATTRIBUTES = ("callbackSecret", "previousCallbackSecret", "previousCallbackSecretUntil")


def alias_item(key_id: str, tenant_id: str, created_at: str) -> dict[str, Any]:
    """The item that makes the API key `key_id` act as the tenant `tenant_id`."""
    return {"tenantId": {"S": key_id}, ALIAS_OF: {"S": tenant_id}, "createdAt": {"S": created_at}}


def projection(attributes: Sequence[str]) -> dict[str, Any]:
    """GetItem's parameters that read these attributes only (some are reserved words: `name`)."""
    return {
        "ProjectionExpression": ", ".join(f"#p{i}" for i in range(len(attributes))),
        "ExpressionAttributeNames": {f"#p{i}": name for i, name in enumerate(attributes)},
    }


@dataclass
class _Cached:
    tenant: Tenant | None
    until: float


class TenantDirectory:
    """Tenants by id (or by the id of a second key: an alias), read from TenantsTable and kept
    `cache_s` seconds per container.

    Misses are cached too: traffic from a key with no item must not cost a read per request.
    `attributes`: read only these (a function that must not see callback secrets); None: all.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        attributes: Sequence[str] | None = None,
    ) -> None:
        self._db = client
        self._table = table
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._read_only = projection(attributes) if attributes is not None else {}

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
        item = self._item(tenant_id)
        if item is not None and ALIAS_OF in item:
            # One step only: an alias of an alias is no tenant (ops.tenants never makes one).
            item = self._item(item[ALIAS_OF]["S"])
            if item is not None and ALIAS_OF in item:
                return None
        return tenant_from_item(item) if item else None

    def _item(self, tenant_id: str) -> dict[str, Any] | None:
        if not 0 < len(tenant_id) <= MAX_TENANT_ID_CHARS:
            return None
        answer = self._db.get_item(
            TableName=self._table, Key={"tenantId": {"S": tenant_id}}, ConsistentRead=True, **self._read_only
        )
        return answer.get("Item")
