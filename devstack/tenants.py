"""Tenants of the local stack: API keys in a usage plan in moto, and the gateway's key lookup.

One job: what API Gateway holds about keys. The stack makes a usage plan in moto's API Gateway
and its tenants with the same code an operator's ``python -m ops.tenants`` uses on AWS
(``gateway_admin.tenants``), and the local API checks each ``x-api-key`` against that plan, so a
tenant created later with ``python -m ops.tenants --local create`` can call the local API at once.

Each local tenant also has a publisher: an IAM user in moto, registered as the tenant's only
publisher, whose access key (``queue_credentials`` in stack.json) signs what it sends to SendQueue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devstack.iam_principals import Credentials, create_user
from gateway_admin.tenants import CreatedTenant, Target, add_publishers, create_tenant
from sinch_gateway.domain.tenants import TenantPolicy

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient

# The tenants every local stack starts with; the first one's key is stack.json's `api_key`.
LOCAL_TENANTS = ("acme", "globex")


@dataclass(frozen=True)
class LocalTenant:
    name: str
    api_key: str
    api_key_id: str
    callback_secret: str
    queue_credentials: Credentials  # its publisher's access key

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "api_key": self.api_key,
            "api_key_id": self.api_key_id,
            "callback_secret": self.callback_secret,
            "queue_credentials": {
                "access_key_id": self.queue_credentials.access_key_id,
                "secret_access_key": self.queue_credentials.secret_access_key,
            },
        }


def create_usage_plan(client: APIGatewayClient, name: str) -> str:
    return str(client.create_usage_plan(name=name)["id"])


def create_local_tenants(
    target: Target,
    iam: Any,
    names: tuple[str, ...] = LOCAL_TENANTS,
    *,
    first_api_key: str | None = None,
    user_prefix: str = "",
) -> list[LocalTenant]:
    """The tenants, each with a new random key, but the first with `first_api_key` if given, and
    each with its publisher: an IAM user `<user_prefix><name>-publisher` (`iam`: moto's IAM)."""
    tenants = []
    for number, name in enumerate(names):
        key_id = None
        if first_api_key is not None and number == 0:
            key = target.apigateway.create_api_key(
                name=f"{target.key_prefix}{name}", value=first_api_key, enabled=True
            )
            key_id = key["id"]
        created: CreatedTenant = create_tenant(target, name, TenantPolicy(), api_key_id=key_id)
        publisher = create_user(iam, f"{user_prefix}{name}-publisher")
        add_publishers(target, created.tenant.tenant_id, [publisher.unique_id])
        tenants.append(
            LocalTenant(
                name,
                created.api_key,
                created.tenant.tenant_id,
                created.tenant.callback_secret or "",
                publisher.credentials,
            )
        )
    return tenants


class UsagePlanKeys:
    """The keys of a usage plan by value, as API Gateway checks ``x-api-key``: a key counts when
    it is enabled and in the plan. Read from moto when a key is not known yet (at most once per
    `min_refresh_s`), and again when what is known grows old, so a disabled key stops working."""

    def __init__(
        self,
        client_factory: Callable[[], APIGatewayClient],
        usage_plan_id: str,
        *,
        min_refresh_s: float = 0.5,
        max_age_s: float = 10.0,
    ) -> None:
        self._client_factory = client_factory
        self._usage_plan_id = usage_plan_id
        self._min_refresh_s = min_refresh_s
        self._max_age_s = max_age_s
        self._keys: dict[str, str] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, value: str) -> str | None:
        """The key id of an enabled key in the plan with this value, else None. A key unknown
        just after a read waits for the next one (moto is read at most every `min_refresh_s`):
        refused at once, a key created a moment ago would depend on other callers' timing."""
        with self._lock:
            now = time.monotonic()
            if value in self._keys and now - self._read_at <= self._max_age_s:
                return self._keys[value]
            wait = self._read_at + self._min_refresh_s - now
            if wait <= 0:
                return self._refresh(now).get(value)
            read_at = self._read_at
        time.sleep(wait)
        with self._lock:
            # A read by another caller since ours was refused is as new as ours would be.
            keys = self._refresh(time.monotonic()) if self._read_at == read_at else self._keys
            return keys.get(value)

    def _refresh(self, now: float) -> dict[str, str]:
        self._keys = self._read()
        self._read_at = now
        return self._keys

    def _read(self) -> dict[str, str]:
        client = self._client_factory()
        in_plan = {
            key["id"]
            for page in client.get_paginator("get_usage_plan_keys").paginate(usagePlanId=self._usage_plan_id)
            for key in page.get("items", [])
        }
        return {
            key["value"]: key["id"]
            for page in client.get_paginator("get_api_keys").paginate(includeValues=True)
            for key in page.get("items", [])
            if key.get("id") in in_plan and key.get("enabled") and "value" in key
        }
