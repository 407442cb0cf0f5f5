"""ops.tenants, the operator's command for tenants, and the tenant operations it runs
(gateway_admin.tenants), against moto (as on a deployed stack)."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import aws
from gateway_admin import tenants as admin
from ops import tenants as ops
from sinch_gateway.domain.tenants import TenantPolicy

REGION = "us-east-1"


@pytest.fixture
def target(endpoint: str) -> admin.Target:
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
    return admin.Target(tenants_table=name, usage_plan_id=plan, apigateway=apigateway, dynamodb=dynamodb)


def plan_key_ids(target: admin.Target) -> set[str]:
    keys = target.apigateway.get_usage_plan_keys(usagePlanId=target.usage_plan_id)["items"]
    return {k["id"] for k in keys}


def test_create_makes_a_key_in_the_usage_plan_and_the_tenants_item(target: admin.Target) -> None:
    policy = TenantPolicy(allowed_countries=frozenset({"US", "CA"}), mms_allowed=False)

    created = admin.create_tenant(target, "acme", policy)

    key_id = created.tenant.tenant_id
    assert key_id in plan_key_ids(target)
    assert admin.api_key_value(target, key_id) == created.api_key
    stored = admin.get_tenant(target, key_id)
    assert (stored.name, stored.policy) == ("acme", policy)
    assert stored.callback_secret and len(stored.callback_secret) >= 32


def test_two_tenants_get_their_own_keys_and_callback_secrets(target: admin.Target) -> None:
    one = admin.create_tenant(target, "acme", TenantPolicy())
    two = admin.create_tenant(target, "globex", TenantPolicy())

    assert one.api_key != two.api_key
    assert one.tenant.callback_secret != two.tenant.callback_secret
    assert [t.name for t in admin.list_tenants(target)] == ["acme", "globex"]


def test_an_existing_key_can_be_adopted_once(target: admin.Target) -> None:
    key = target.apigateway.create_api_key(name="made-elsewhere", enabled=True)

    adopted = admin.create_tenant(target, "legacy", TenantPolicy(), api_key_id=key["id"])

    assert adopted.tenant.tenant_id == key["id"] and adopted.api_key == key["value"]
    with pytest.raises(admin.TenantError, match="tenant already"):
        admin.create_tenant(target, "again", TenantPolicy(), api_key_id=key["id"])
    assert admin.get_tenant(target, key["id"]).name == "legacy", "the first tenant is untouched"


def test_a_policy_change_keeps_what_it_does_not_mention(target: admin.Target) -> None:
    tenant_id = admin.create_tenant(target, "acme", TenantPolicy(mms_allowed=False)).tenant.tenant_id

    admin.set_policy(target, tenant_id, allowed_countries=frozenset({"AU"}))
    assert admin.get_tenant(target, tenant_id).policy == TenantPolicy(
        allowed_countries=frozenset({"AU"}), mms_allowed=False
    )
    admin.set_policy(target, tenant_id, allowed_countries=None, mms_allowed=True)
    assert admin.get_tenant(target, tenant_id).policy == TenantPolicy()


def test_unknown_country_codes_and_tenants_are_clear_errors(target: admin.Target) -> None:
    with pytest.raises(admin.TenantError, match="XX"):
        admin.parse_countries("US, XX")
    assert admin.parse_countries(" us,ca ") == {"US", "CA"}
    with pytest.raises(admin.TenantError, match="no tenant"):
        admin.set_policy(target, "nosuchkey1", mms_allowed=False)


def cli(state: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = ops.main(["--local", "--state", str(state), *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else err


def local_state(target: admin.Target, endpoint: str, tmp_path: Path) -> Path:
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


def test_the_command_line_against_a_local_stack(
    target: admin.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(target, endpoint, tmp_path)

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
    target: admin.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(target, endpoint, tmp_path)
    code, created = cli(
        state, "create", "--name", "initech", "--all-countries", "--rate-cap", "5", capsys=capsys
    )
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
    stored = admin.get_tenant(target, tenant_id).policy
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
    target: admin.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    state = local_state(target, endpoint, tmp_path)
    tenant_id = admin.create_tenant(target, "acme", TenantPolicy(rate_weight=2.0)).tenant.tenant_id
    before = target.dynamodb.get_item(TableName=target.tenants_table, Key={"tenantId": {"S": tenant_id}})

    code, error = cli(state, "policy", tenant_id, *flags, capsys=capsys)
    assert code == 1 and "not a rate share" in error
    code, error = cli(state, "create", "--name", "other", "--all-countries", *flags, capsys=capsys)
    assert code == 1 and "not a rate share" in error

    after = target.dynamodb.get_item(TableName=target.tenants_table, Key={"tenantId": {"S": tenant_id}})
    assert after["Item"] == before["Item"]
    assert [t.name for t in admin.list_tenants(target)] == ["acme"], "no tenant made"


def test_without_a_running_local_stack_the_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, error = cli(tmp_path / "missing.json", "list", capsys=capsys)
    assert code == 1 and "make run" in error


# --- create's countries, publishers, senders, key and secret rotation, delete --------------------


def test_create_must_be_told_which_countries(
    target: admin.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(target, endpoint, tmp_path)

    with pytest.raises(SystemExit) as refused:
        ops.main(["--local", "--state", str(state), "create", "--name", "initech"])

    assert refused.value.code == 2
    assert "one of the arguments --countries --all-countries is required" in capsys.readouterr().err
    assert admin.list_tenants(target) == [], "nothing made"
    code, created = cli(state, "create", "--name", "initech", "--all-countries", capsys=capsys)
    assert (code, created["allowedCountries"]) == (0, "all")


def test_publishers_are_added_removed_and_listed_by_their_unique_ids(
    target: admin.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(target, endpoint, tmp_path)
    role, user = "AROAEXAMPLEFULFILMENT", "AIDAEXAMPLEPUBLISHER1"
    code, created = cli(
        state, "create", "--name", "acme", "--countries", "US", "--publishers", role, capsys=capsys
    )
    tenant_id = created["tenantId"]
    assert created["publishers"] == [role]

    code, listed = cli(state, "publishers", "add", tenant_id, user, capsys=capsys)
    assert (code, listed) == (0, {"tenantId": tenant_id, "publishers": [user, role]})
    code, listed = cli(state, "publishers", "remove", tenant_id, role, capsys=capsys)
    assert listed["publishers"] == [user]
    kept = admin.get_tenant(target, tenant_id).policy
    assert kept.publishers == frozenset({user})
    assert kept.allowed_countries == frozenset({"US"}), "the rest is kept"

    for wrong in (
        f"arn:aws:iam::123456789012:role/{role}",
        f"{role}:session",
        "AKIA" + "EXAMPLEACCESSKEY",  # an access key id (split: no key-shaped literal in the repo)
        "acme",
    ):
        code, error = cli(state, "publishers", "add", tenant_id, wrong, capsys=capsys)
        assert code == 1 and "AIDA... or AROA..." in error and "aws iam get-role" in error
    code, listed = cli(state, "publishers", "list", tenant_id, capsys=capsys)
    assert listed["publishers"] == [user], "a refused id changes nothing"


def test_sender_ids_are_set_and_cleared_with_the_policy(
    target: admin.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(target, endpoint, tmp_path)
    code, created = cli(state, "create", "--name", "acme", "--countries", "US", capsys=capsys)
    assert created["senders"] == [], "no sender id allowed by default"

    code, changed = cli(state, "policy", created["tenantId"], "--senders", "Acme, Acme Shop", capsys=capsys)
    assert (code, changed["senders"], changed["allowedCountries"]) == (0, ["Acme", "Acme Shop"], ["US"])
    code, error = cli(
        state, "policy", created["tenantId"], "--senders", "Acme!,far too long id", capsys=capsys
    )
    assert code == 1 and "Acme!" in error and "far too long id" in error
    code, changed = cli(state, "policy", created["tenantId"], "--no-senders", capsys=capsys)
    assert changed["senders"] == []


def test_a_second_key_acts_as_the_tenant_until_the_old_one_is_revoked(target: admin.Target) -> None:
    from sinch_gateway.data.tenants import TenantDirectory

    created = admin.create_tenant(target, "acme", TenantPolicy(allowed_countries=frozenset({"US"})))
    tenant_id = created.tenant.tenant_id

    second = admin.rotate_key(target, tenant_id)

    new_id = second["apiKeyId"]
    assert second["apiKeyIds"] == [tenant_id, new_id]
    assert new_id in plan_key_ids(target) and admin.api_key_value(target, new_id) == second["apiKey"]
    directory = TenantDirectory(target.dynamodb, target.tenants_table, cache_s=0)
    assert directory.get(new_id) == admin.get_tenant(target, tenant_id), "the new key reads as the tenant"
    assert [t.tenant_id for t in admin.list_tenants(target)] == [tenant_id], "a second key is no tenant"
    with pytest.raises(admin.TenantError, match=f"second API key of tenant {tenant_id}"):
        admin.get_tenant(target, new_id)

    revoked = admin.revoke_key(target, tenant_id, tenant_id)

    assert revoked["apiKeyIds"] == [new_id]
    assert plan_key_ids(target) == {new_id}
    assert not admin._key_exists(target, tenant_id)
    assert directory.get(new_id) is not None and directory.get(new_id).tenant_id == tenant_id  # type: ignore[union-attr]
    with pytest.raises(admin.TenantError, match="last key"):
        admin.revoke_key(target, tenant_id, new_id)
    with pytest.raises(admin.TenantError, match="not an API key of tenant"):
        admin.revoke_key(target, tenant_id, "someoneelse")


def test_revoking_a_second_key_removes_its_alias(target: admin.Target) -> None:
    tenant_id = admin.create_tenant(target, "acme", TenantPolicy()).tenant.tenant_id
    new_id = admin.rotate_key(target, tenant_id)["apiKeyId"]

    admin.revoke_key(target, tenant_id, new_id)

    assert admin.key_ids(target, tenant_id) == [tenant_id]
    assert "Item" not in target.dynamodb.get_item(
        TableName=target.tenants_table, Key={"tenantId": {"S": new_id}}
    )


def test_a_rotated_secret_keeps_the_old_one_for_the_grace_only(target: admin.Target) -> None:
    created = admin.create_tenant(target, "acme", TenantPolicy())
    tenant_id, old = created.tenant.tenant_id, created.tenant.callback_secret

    rotated = admin.rotate_secret(target, tenant_id, timedelta(hours=24))

    stored = admin.get_tenant(target, tenant_id)
    assert stored.callback_secret == rotated["callbackSecret"] != old
    assert stored.previous_callback_secret == old
    now = datetime.now(UTC)
    assert stored.signing_secrets(now) == [rotated["callbackSecret"], old]
    assert stored.signing_secrets(now + timedelta(hours=24, seconds=1)) == [rotated["callbackSecret"]]

    again = admin.rotate_secret(target, tenant_id, timedelta(0))
    assert admin.get_tenant(target, tenant_id).signing_secrets(now) == [again["callbackSecret"]]


def test_delete_removes_every_key_and_item_and_needs_a_yes(
    target: admin.Target, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_state(target, endpoint, tmp_path)
    kept = admin.create_tenant(target, "globex", TenantPolicy()).tenant.tenant_id
    tenant_id = admin.create_tenant(target, "acme", TenantPolicy()).tenant.tenant_id
    second = admin.rotate_key(target, tenant_id)["apiKeyId"]

    code, error = cli(state, "delete", tenant_id, capsys=capsys)
    assert code == 1 and "--yes" in error
    assert admin.get_tenant(target, tenant_id).name == "acme"

    code, deleted = cli(state, "delete", tenant_id, "--yes", capsys=capsys)

    assert (code, deleted) == (0, {"deleted": tenant_id, "apiKeysDeleted": [tenant_id, second]})
    assert plan_key_ids(target) == {kept}
    assert not admin._key_exists(target, tenant_id) and not admin._key_exists(target, second)
    items = target.dynamodb.scan(TableName=target.tenants_table)["Items"]
    assert [i["tenantId"]["S"] for i in items] == [kept]
    code, error = cli(state, "delete", tenant_id, "--yes", capsys=capsys)
    assert code == 1 and "no tenant" in error
