"""Tenant policies: which destinations and channels an API key may use, and how they are cached."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sinch_gateway.api.problems import problem_kind
from sinch_gateway.data.tenants import (
    CALLBACK_ATTRIBUTES,
    POLICY_ATTRIBUTES,
    TenantDirectory,
    alias_item,
    tenant_from_item,
    tenant_to_item,
)
from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.errors import DestinationNotAllowed, MmsNotAllowed, SenderNotAllowed
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

    assert problem_kind(refused.value).status == 422
    assert problem_kind(refused.value).type == "/problems/destination-not-allowed"
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

    assert problem_kind(refused.value).status == 422
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
        if item and "ProjectionExpression" in kwargs:  # as DynamoDB: the projected attributes only
            names = kwargs["ExpressionAttributeNames"]
            wanted = {names[p.strip()] for p in kwargs["ProjectionExpression"].split(",")}
            item = {k: v for k, v in item.items() if k in wanted}
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


# --- identity: publishers, senders, rotated keys and secrets --------------------------------------

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
FULL = Tenant(
    tenant_id="abc123",
    name="acme",
    policy=TenantPolicy(
        allowed_countries=frozenset({"US"}),
        mms_allowed=False,
        publishers=frozenset({"AIDAEXAMPLEPUBLISHER1", "AROAEXAMPLEFULFILMENT"}),
        senders=frozenset({"Acme", "Acme Shop"}),
        rate_weight=2.5,
        rate_cap_per_s=5.0,
    ),
    callback_secret="new-secret",
    created_at=NOW.isoformat(),
    previous_callback_secret="old-secret",
    previous_callback_secret_until=NOW + timedelta(hours=24),
)


def test_a_tenant_with_publishers_senders_and_a_rotated_secret_survives_its_item() -> None:
    assert tenant_from_item(tenant_to_item(FULL)) == FULL


def test_every_attribute_of_a_tenant_is_a_policy_or_a_callback_secret_attribute() -> None:
    # Send and Retry read POLICY_ATTRIBUTES only, and their roles allow no other: an attribute
    # added to the item must be put on one side (and in template.yaml's TenantPolicyRead).
    assert set(tenant_to_item(FULL)) == {*POLICY_ATTRIBUTES, *CALLBACK_ATTRIBUTES, "createdAt"} - {"aliasOf"}
    assert not set(POLICY_ATTRIBUTES) & set(CALLBACK_ATTRIBUTES)


def test_no_sender_id_is_allowed_by_default() -> None:
    with pytest.raises(SenderNotAllowed) as refused:
        TenantPolicy().check_sender("fromMask", "Acme")

    kind = problem_kind(refused.value)
    assert (kind.status, kind.type) == (422, "/problems/sender-not-allowed")
    assert refused.value.errors == [
        ("fromMask", "'Acme' is not among the sender ids allowed for this API key")
    ]


def test_only_the_sender_ids_the_policy_names_are_allowed_as_written() -> None:
    FULL.policy.check_sender("fromMask", "Acme")
    FULL.policy.check_sender("fromMask", "Acme Shop")
    for other in ("ACME", "Acme ", "Globex"):
        with pytest.raises(SenderNotAllowed):
            FULL.policy.check_sender("fromMask", other)


@pytest.mark.parametrize(
    ("sender_id", "publishes"),
    [
        ("AIDAEXAMPLEPUBLISHER1", True),
        ("AROAEXAMPLEFULFILMENT:fulfilment-service", True),  # a session of a registered role
        ("AROAEXAMPLEFULFILMENT", True),
        ("AIDAEXAMPLEPUBLISHER1:x", True),  # the part before the colon is the principal
        ("AROAEXAMPLEFULFILMENTX:svc", False),
        ("AROAEXAMPLEOTHER:AROAEXAMPLEFULFILMENT", False),
        ("aidaexamplepublisher1", False),
        ("", False),
        (None, False),
    ],
)
def test_a_publisher_is_known_by_its_principal_id(sender_id: str | None, publishes: bool) -> None:
    assert FULL.policy.publishes(sender_id) is publishes
    assert TenantPolicy().publishes(sender_id) is False, "nobody publishes for a new tenant"


def test_callbacks_are_signed_with_the_replaced_secret_too_until_its_grace_ends() -> None:
    assert FULL.signing_secrets(NOW) == ["new-secret", "old-secret"]
    assert FULL.signing_secrets(NOW + timedelta(hours=24)) == ["new-secret"]
    assert FULL.model_copy(update={"previous_callback_secret": None}).signing_secrets(NOW) == ["new-secret"]


def test_a_second_key_reads_as_its_tenant_and_an_alias_of_an_alias_as_nobody() -> None:
    table = FakeTable(
        {
            "abc123": tenant_to_item(FULL),
            "newkey": alias_item("newkey", "abc123", NOW.isoformat()),
            "chained": alias_item("chained", "newkey", NOW.isoformat()),
            "dangling": alias_item("dangling", "gone", NOW.isoformat()),
        }
    )
    directory = TenantDirectory(table, "Tenants", cache_s=60)  # type: ignore[arg-type]

    assert directory.get("newkey") == FULL
    assert directory.get("chained") is None
    assert directory.get("dangling") is None


def test_a_directory_limited_to_the_policy_never_holds_a_callback_secret() -> None:
    table = FakeTable({"abc123": tenant_to_item(FULL), "newkey": alias_item("newkey", "abc123", "")})
    directory = TenantDirectory(table, "Tenants", cache_s=60, attributes=POLICY_ATTRIBUTES)  # type: ignore[arg-type]

    for key in ("abc123", "newkey"):
        tenant = directory.get(key)
        assert tenant is not None and tenant.policy == FULL.policy
        assert (tenant.callback_secret, tenant.previous_callback_secret) == (None, None)
