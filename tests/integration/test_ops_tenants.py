"""ops.tenants, the operator's command for tenants, against moto (as on a deployed stack)."""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from devstack import aws
from ops import tenants as ops
from sinch_gateway.domain.tenants import TenantPolicy

REGION = "us-east-1"


@pytest.fixture
def target(endpoint: str) -> ops.Target:
    name = f"ops-{uuid.uuid4().hex[:8]}"
    dynamodb = aws.client("dynamodb", endpoint, REGION)
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "tenantId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "tenantId", "KeyType": "HASH"}],
    )
    apigateway = aws.client("apigateway", endpoint, REGION)
    plan = apigateway.create_usage_plan(name=name)["id"]
    return ops.Target(tenants_table=name, usage_plan_id=plan, apigateway=apigateway, dynamodb=dynamodb)


def plan_key_ids(target: ops.Target) -> set[str]:
    keys = target.apigateway.get_usage_plan_keys(usagePlanId=target.usage_plan_id)["items"]
    return {k["id"] for k in keys}


def test_create_makes_a_key_in_the_usage_plan_and_the_tenants_item(target: ops.Target) -> None:
    policy = TenantPolicy(allowed_countries=frozenset({"US", "CA"}), mms_allowed=False)

    created = ops.create_tenant(target, "acme", policy)

    key_id = created.tenant.tenant_id
    assert key_id in plan_key_ids(target)
    assert ops.api_key_value(target, key_id) == created.api_key
    stored = ops.get_tenant(target, key_id)
    assert (stored.name, stored.policy) == ("acme", policy)
    assert stored.callback_secret and len(stored.callback_secret) >= 32


def test_two_tenants_get_their_own_keys_and_callback_secrets(target: ops.Target) -> None:
    one = ops.create_tenant(target, "acme", TenantPolicy())
    two = ops.create_tenant(target, "globex", TenantPolicy())

    assert one.api_key != two.api_key
    assert one.tenant.callback_secret != two.tenant.callback_secret
    assert [t.name for t in ops.list_tenants(target)] == ["acme", "globex"]


def test_an_existing_key_can_be_adopted_once(target: ops.Target) -> None:
    key = target.apigateway.create_api_key(name="made-elsewhere", enabled=True)

    adopted = ops.create_tenant(target, "legacy", TenantPolicy(), api_key_id=key["id"])

    assert adopted.tenant.tenant_id == key["id"] and adopted.api_key == key["value"]
    with pytest.raises(ops.TenantError, match="tenant already"):
        ops.create_tenant(target, "again", TenantPolicy(), api_key_id=key["id"])
    assert ops.get_tenant(target, key["id"]).name == "legacy", "the first tenant is untouched"


def test_a_policy_change_keeps_what_it_does_not_mention(target: ops.Target) -> None:
    tenant_id = ops.create_tenant(target, "acme", TenantPolicy(mms_allowed=False)).tenant.tenant_id

    ops.set_policy(target, tenant_id, allowed_countries=frozenset({"AU"}))
    assert ops.get_tenant(target, tenant_id).policy == TenantPolicy(
        allowed_countries=frozenset({"AU"}), mms_allowed=False
    )
    ops.set_policy(target, tenant_id, allowed_countries=None, mms_allowed=True)
    assert ops.get_tenant(target, tenant_id).policy == TenantPolicy()


def test_unknown_country_codes_and_tenants_are_clear_errors(target: ops.Target) -> None:
    with pytest.raises(ops.TenantError, match="XX"):
        ops.parse_countries("US, XX")
    assert ops.parse_countries(" us,ca ") == {"US", "CA"}
    with pytest.raises(ops.TenantError, match="no tenant"):
        ops.set_policy(target, "nosuchkey1", mms_allowed=False)


def local_state(tmp_path: Path, endpoint: str, target: ops.Target) -> Path:
    """A stack.json as the local stack writes it, for `--local` (the parts ops.tenants reads)."""
    state = tmp_path / "stack.json"
    state.write_text(
        json.dumps(
            {
                "aws_endpoint_url": endpoint,
                "region": REGION,
                "tenants_table": target.tenants_table,
                "usage_plan_id": target.usage_plan_id,
            }
        )
    )
    return state


def cli(state: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = ops.main(["--local", "--state", str(state), *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else err


def test_the_command_line_against_a_local_stack(
    target: ops.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(tmp_path, endpoint, target)

    code, created = cli(
        state, "create", "--name", "initech", "--countries", "US,CA", "--no-mms", capsys=capsys
    )
    assert code == 0
    assert created["allowedCountries"] == ["CA", "US"] and created["mmsAllowed"] is False
    assert created["apiKey"] and created["callbackSecret"]

    code, shown = cli(state, "show", created["tenantId"], capsys=capsys)
    assert code == 0 and "apiKey" not in shown and created["callbackSecret"] not in json.dumps(shown)
    code, revealed = cli(state, "show", created["tenantId"], "--reveal", capsys=capsys)
    assert (revealed["apiKey"], revealed["callbackSecret"]) == (created["apiKey"], created["callbackSecret"])

    code, changed = cli(state, "policy", created["tenantId"], "--all-countries", "--mms", capsys=capsys)
    assert (changed["allowedCountries"], changed["mmsAllowed"]) == ("all", True)

    code, error = cli(state, "policy", created["tenantId"], "--countries", "ZZ", capsys=capsys)
    assert code == 1 and "ZZ" in error
    code, error = cli(state, "policy", created["tenantId"], capsys=capsys)
    assert code == 1 and "say what to change" in error


def test_a_tenants_share_of_the_rate_is_set_shown_and_kept_apart_from_the_rest(
    target: ops.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(tmp_path, endpoint, target)
    code, created = cli(state, "create", "--name", "initech", "--rate-cap", "5", capsys=capsys)
    assert code == 0 and (created["rateWeight"], created["rateCapPerSecond"]) == (1.0, 5.0)
    tenant_id = created["tenantId"]

    code, changed = cli(state, "policy", tenant_id, "--rate-weight", "2.5", capsys=capsys)
    assert code == 0 and (changed["rateWeight"], changed["rateCapPerSecond"]) == (2.5, 5.0)
    code, changed = cli(state, "policy", tenant_id, "--no-rate-cap", "--no-mms", capsys=capsys)
    assert code == 0 and (changed["rateWeight"], changed["rateCapPerSecond"], changed["mmsAllowed"]) == (
        2.5,
        "none",
        False,
    )
    code, listed = cli(state, "list", capsys=capsys)
    assert [(t["rateWeight"], t["rateCapPerSecond"]) for t in listed] == [(2.5, "none")]
    stored = ops.get_tenant(target, tenant_id).policy
    assert (stored.rate_weight, stored.rate_cap_per_s, stored.mms_allowed) == (2.5, None, False)


@pytest.mark.parametrize(
    "flags",
    [
        ["--rate-weight", "0"],
        ["--rate-weight", "-1"],
        ["--rate-weight", "1000"],
        ["--rate-weight", "nan"],
        ["--rate-cap", "0"],
        ["--rate-cap", "-3"],
        ["--rate-cap", "inf"],
    ],
)
def test_a_share_of_the_rate_that_makes_no_sense_is_a_clear_error_and_changes_nothing(
    target: ops.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    state = local_state(tmp_path, endpoint, target)
    tenant_id = ops.create_tenant(target, "acme", TenantPolicy(rate_weight=2.0)).tenant.tenant_id
    before = target.dynamodb.get_item(TableName=target.tenants_table, Key={"tenantId": {"S": tenant_id}})

    code, error = cli(state, "policy", tenant_id, *flags, capsys=capsys)
    assert code == 1 and "not a rate share" in error
    code, error = cli(state, "create", "--name", "other", *flags, capsys=capsys)
    assert code == 1 and "not a rate share" in error

    after = target.dynamodb.get_item(TableName=target.tenants_table, Key={"tenantId": {"S": tenant_id}})
    assert after["Item"] == before["Item"]
    assert [t.name for t in ops.list_tenants(target)] == ["acme"], "no tenant made"


def test_without_a_running_local_stack_the_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, error = cli(tmp_path / "missing.json", "list", capsys=capsys)
    assert code == 1 and "make run" in error
