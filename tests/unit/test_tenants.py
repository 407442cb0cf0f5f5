"""Tenant policies: which destinations and channels an API key may use, and how they are cached."""

from typing import Any

import pytest

from sinch_gateway.data.tenants import TenantDirectory, tenant_from_item, tenant_to_item
from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.errors import DestinationNotAllowed, MmsNotAllowed
from sinch_gateway.domain.tenants import Tenant, TenantPolicy

US, AU, JM = "+12025550143", "+61491570156", "+18765550123"


def test_the_default_policy_allows_every_country_and_mms() -> None:
    for to in (US, AU, JM):
        TenantPolicy().check(to, Channel.SMS)
    TenantPolicy().check(US, Channel.MMS)


def test_a_destination_outside_the_allowed_countries_is_refused_naming_the_country() -> None:
    policy = TenantPolicy(allowed_countries=frozenset({"us", "CA"}))
    policy.check(US, Channel.SMS)

    with pytest.raises(DestinationNotAllowed) as refused:
        policy.check(JM, Channel.SMS)

    assert refused.value.status == 422
    assert refused.value.type == "/problems/destination-not-allowed"
    ((field, message),) = refused.value.errors
    assert field == "to"
    assert "Jamaica (JM)" in message


def test_an_empty_country_list_allows_nothing() -> None:
    with pytest.raises(DestinationNotAllowed):
        TenantPolicy(allowed_countries=frozenset()).check(US, Channel.SMS)


def test_mms_can_be_switched_off_per_tenant() -> None:
    policy = TenantPolicy(mms_allowed=False)
    policy.check(US, Channel.SMS)

    with pytest.raises(MmsNotAllowed) as refused:
        policy.check(US, Channel.MMS)

    assert refused.value.status == 422
    assert refused.value.errors[0][0] == "mediaUrl"


@pytest.mark.parametrize(
    "policy",
    [
        TenantPolicy(),
        TenantPolicy(allowed_countries=frozenset({"US", "AU"}), mms_allowed=False),
        TenantPolicy(rate_weight=2.5, rate_cap_per_s=7.0),
        TenantPolicy(rate_weight=0.01),
    ],
)
def test_a_tenant_survives_its_dynamodb_item(policy: TenantPolicy) -> None:
    tenant = Tenant(tenant_id="abc123", name="acme", policy=policy, callback_secret="s3cr3t")
    assert tenant_from_item(tenant_to_item(tenant)) == tenant


@pytest.mark.parametrize(
    ("stored", "weight", "cap"),
    [
        ({"rateWeight": {"N": "0"}, "rateCapPerSecond": {"N": "-1"}}, 1.0, None),
        ({"rateWeight": {"N": "1e9"}, "rateCapPerSecond": {"N": "0"}}, 1.0, None),
        ({"rateWeight": {"S": "heavy"}, "rateCapPerSecond": {"S": "5"}}, 1.0, None),
        ({"rateWeight": {"N": "3"}, "rateCapPerSecond": {"N": "2.5"}}, 3.0, 2.5),
    ],
)
def test_a_hand_edited_share_of_the_rate_out_of_bounds_counts_as_the_default(
    stored: dict[str, Any], weight: float, cap: float | None
) -> None:
    """Rather than a tenant that cannot send at all (every policy read failing)."""
    tenant = tenant_from_item({"tenantId": {"S": "abc123"}, "name": {"S": "acme"}, **stored})
    assert (tenant.policy.rate_weight, tenant.policy.rate_cap_per_s) == (weight, cap)


class FakeTable:
    """The one DynamoDB call the directory makes, counted."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self.reads = 0

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.reads += 1
        item = self.items.get(kwargs["Key"]["tenantId"]["S"])
        return {"Item": item} if item else {}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_policies_are_cached_misses_included_and_read_again_when_old() -> None:
    strict = Tenant(tenant_id="t1", name="t1", policy=TenantPolicy(mms_allowed=False))
    table, clock = FakeTable({"t1": tenant_to_item(strict)}), Clock()
    directory = TenantDirectory(table, "Tenants", cache_s=60, clock=clock)  # type: ignore[arg-type]

    assert directory.policy("t1") == strict.policy
    assert directory.policy("unregistered") == TenantPolicy(), "a key without an item: the default"
    for _ in range(5):
        directory.policy("t1")
        directory.policy("unregistered")
    assert table.reads == 2

    table.items["t1"] = tenant_to_item(strict.model_copy(update={"policy": TenantPolicy()}))
    clock.now = 61
    assert directory.policy("t1") == TenantPolicy(), "an edited policy applies after the cache time"
    assert table.reads == 3


def test_an_id_no_api_key_can_have_is_never_looked_up() -> None:
    table = FakeTable({})
    directory = TenantDirectory(table, "Tenants", cache_s=60)  # type: ignore[arg-type]
    assert directory.get("") is None
    assert directory.get("x" * 5000) is None
    assert table.reads == 0
