"""devstack.tenants.UsagePlanKeys: the local API's view of a usage plan's keys."""

from __future__ import annotations

from typing import Any

from devstack.tenants import UsagePlanKeys


class FakeApiGateway:
    """What UsagePlanKeys reads: the plan's key ids and every key with its value."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.reads = 0

    def add(self, key_id: str, value: str) -> None:
        self.keys[key_id] = {"id": key_id, "value": value, "enabled": True}

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                if operation == "get_usage_plan_keys":
                    fake.reads += 1
                    return [{"items": [{"id": k} for k in fake.keys]}]
                return [{"items": list(fake.keys.values())}]

        return Paginator()


def test_a_key_created_just_after_a_read_is_accepted_at_once() -> None:
    api = FakeApiGateway()
    api.add("k1", "value-1")
    keys = UsagePlanKeys(lambda: api, "plan", min_refresh_s=0.3)  # type: ignore[arg-type,return-value]
    assert keys.get("wrong") is None  # a read, just now
    api.add("k2", "value-2")
    assert keys.get("value-2") == "k2"  # waits for the next read rather than refusing
