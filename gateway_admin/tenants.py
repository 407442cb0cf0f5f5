"""A gateway's tenants: API keys in its usage plan and items in its TenantsTable, on a deployed stack
(found by its CloudFormation outputs) or on the local stack (found by the stack.json it writes).

The operator's command (``python -m ops.tenants``) and the local stack (which makes its own tenants
with this same code) both use it; they do not import each other.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import phonenumbers
from botocore.exceptions import ClientError
from pydantic import ValidationError

from gateway_admin.local_stack import read_state
from sinch_gateway.api.models import FROM_MASK
from sinch_gateway.data.tenants import ALIAS_OF, alias_item, tenant_from_item, tenant_to_item
from sinch_gateway.domain.tenants import PRINCIPAL_ID, Tenant, TenantPolicy

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_dynamodb import DynamoDBClient


class TenantError(Exception):
    """What the operator asked for cannot be done; the message says why."""


@dataclass
class Target:
    """Where the tenants live: a stack's TenantsTable and usage plan, and clients to reach them."""

    tenants_table: str
    usage_plan_id: str
    apigateway: APIGatewayClient
    dynamodb: DynamoDBClient
    key_prefix: str = ""


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    api_key: str

    def as_json(self) -> dict[str, Any]:
        return {**describe(self.tenant, reveal=True), "apiKey": self.api_key}


def parse_countries(text: str) -> frozenset[str]:
    """ "US, ca" -> {"US", "CA"}; an unknown code is an error, not a silent no-op."""
    codes = frozenset(code.strip().upper() for code in text.split(",") if code.strip())
    unknown = sorted(code for code in codes if code not in phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise TenantError(f"unknown country codes (ISO 3166 alpha-2 expected): {', '.join(unknown)}")
    return codes


def describe(tenant: Tenant, *, reveal: bool = False) -> dict[str, Any]:
    countries = tenant.policy.allowed_countries
    return {
        "tenantId": tenant.tenant_id,
        "name": tenant.name,
        "allowedCountries": "all" if countries is None else sorted(countries),
        "mmsAllowed": tenant.policy.mms_allowed,
        "rateWeight": tenant.policy.rate_weight,
        "rateCapPerSecond": tenant.policy.rate_cap_per_s
        if tenant.policy.rate_cap_per_s is not None
        else "none",
        "callbackSecret": tenant.callback_secret if reveal else "(hidden: use --reveal)",
        "createdAt": tenant.created_at,
        **describe_identity(tenant, reveal=reveal),
    }


def create_tenant(
    target: Target, name: str, policy: TenantPolicy, *, api_key_id: str | None = None
) -> CreatedTenant:
    """A new API key in the usage plan (or an existing key adopted), and the tenant's item.

    A key made here is deleted again if the tenant cannot be recorded: no orphan key works.
    """
    made_key = api_key_id is None
    if api_key_id is None:
        key = target.apigateway.create_api_key(
            name=f"{target.key_prefix}{name}", enabled=True, description=f"Sinch gateway tenant {name}"
        )
    else:
        try:
            key = target.apigateway.get_api_key(apiKey=api_key_id, includeValue=True)
        except ClientError as exc:
            raise TenantError(f"no API key {api_key_id}: {exc}") from None
    key_id, key_value = key["id"], key["value"]
    tenant = Tenant(
        tenant_id=key_id,
        name=name,
        policy=policy,
        callback_secret=secrets.token_urlsafe(32),
        created_at=datetime.now(UTC).isoformat(),
    )
    try:
        _attach(target, key_id)
        target.dynamodb.put_item(
            TableName=target.tenants_table,
            Item=tenant_to_item(tenant),
            ConditionExpression="attribute_not_exists(tenantId)",
        )
    except ClientError as exc:
        if made_key:
            target.apigateway.delete_api_key(apiKey=key_id)
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise TenantError(f"API key {key_id} is a tenant already") from None
        raise
    return CreatedTenant(tenant, key_value)


def _attach(target: Target, key_id: str) -> None:
    try:
        target.apigateway.create_usage_plan_key(
            usagePlanId=target.usage_plan_id, keyId=key_id, keyType="API_KEY"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConflictException":  # attached already
            raise


def get_tenant(target: Target, tenant_id: str) -> Tenant:
    answer = target.dynamodb.get_item(
        TableName=target.tenants_table, Key={"tenantId": {"S": tenant_id}}, ConsistentRead=True
    )
    if "Item" not in answer:
        raise TenantError(f"no tenant {tenant_id}")
    if ALIAS_OF in answer["Item"]:
        owner = answer["Item"][ALIAS_OF]["S"]
        raise TenantError(f"{tenant_id} is a second API key of tenant {owner}: name the tenant {owner}")
    return tenant_from_item(answer["Item"])


def list_tenants(target: Target) -> list[Tenant]:
    tenants: list[Tenant] = []
    pages = target.dynamodb.get_paginator("scan").paginate(TableName=target.tenants_table)
    for page in pages:
        tenants.extend(tenant_from_item(item) for item in page.get("Items", []) if ALIAS_OF not in item)
    return sorted(tenants, key=lambda t: (t.name, t.tenant_id))


def set_policy(
    target: Target,
    tenant_id: str,
    *,
    allowed_countries: frozenset[str] | bool | None = False,
    mms_allowed: bool | None = None,
    rate_share: RateShareChange | None = None,
    identity: dict[str, Any] | None = None,
) -> Tenant:
    """Change what a tenant may send (False: leave the countries as they are). Functions pick it
    up within their policy cache time (TenantPolicyCacheSeconds)."""

    def changed(tenant: Tenant) -> Tenant:
        policy = tenant.policy
        if allowed_countries is not False:
            policy = policy.model_copy(update={"allowed_countries": allowed_countries})
        if mms_allowed is not None:
            policy = policy.model_copy(update={"mms_allowed": mms_allowed})
        if rate_share is not None:
            policy = rate_share.applied(policy)
        return tenant.model_copy(update={"policy": policy.model_copy(update=identity or {})})

    return update_tenant(target, tenant_id, changed)


def api_key_value(target: Target, tenant_id: str) -> str:
    return str(target.apigateway.get_api_key(apiKey=tenant_id, includeValue=True)["value"])


# --- identity: publishers, senders, second keys, rotated secrets, deletion ---------------------


def describe_identity(tenant: Tenant, *, reveal: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "publishers": sorted(tenant.policy.publishers),
        "senders": sorted(tenant.policy.senders),
    }
    until = tenant.previous_callback_secret_until
    if tenant.previous_callback_secret and until is not None and until > datetime.now(UTC):
        shown["previousCallbackSecretUntil"] = until.isoformat()
        if reveal:
            shown["previousCallbackSecret"] = tenant.previous_callback_secret
    return shown


def parse_principals(values: Sequence[str]) -> frozenset[str]:
    """IAM principals' unique ids; an ARN, an access key or a session is an error that says so."""
    wrong = [v for v in values if not PRINCIPAL_ID.fullmatch(v)]
    if wrong:
        raise TenantError(
            f"not an IAM user's or role's unique id (AIDA... or AROA..., without a session): "
            f"{', '.join(wrong)}. Find it with `aws iam get-role --role-name NAME --query Role.RoleId` "
            "or `aws iam get-user --user-name NAME --query User.UserId`"
        )
    return frozenset(values)


def parse_senders(text: str) -> frozenset[str]:
    """ "Acme,Acme Shop" -> the sender ids; each as fromMask takes it (letters, digits, spaces)."""
    senders = frozenset(s.strip() for s in text.split(",") if s.strip())
    wrong = sorted(s for s in senders if not re.fullmatch(FROM_MASK, s))
    if wrong:
        raise TenantError(f"not a sender id (1 to 11 letters, digits or spaces): {', '.join(wrong)}")
    return senders


def with_policy(tenant: Tenant, changes: dict[str, Any]) -> Tenant:
    return tenant.model_copy(update={"policy": tenant.policy.model_copy(update=changes)})


def update_tenant(target: Target, tenant_id: str, change: Callable[[Tenant], Tenant]) -> Tenant:
    """Read the tenant, change it, write it back (only if it still exists)."""
    updated = change(get_tenant(target, tenant_id))
    target.dynamodb.put_item(
        TableName=target.tenants_table,
        Item=tenant_to_item(updated),
        ConditionExpression="attribute_exists(tenantId)",
    )
    return updated


def add_publishers(target: Target, tenant_id: str, principals: Sequence[str]) -> Tenant:
    """Requests these principals publish to SendQueue naming the tenant are taken as its own."""
    added = parse_principals(principals)
    return update_tenant(
        target, tenant_id, lambda t: with_policy(t, {"publishers": t.policy.publishers | added})
    )


def remove_publishers(target: Target, tenant_id: str, principals: Sequence[str]) -> Tenant:
    removed = frozenset(principals)
    return update_tenant(
        target, tenant_id, lambda t: with_policy(t, {"publishers": t.policy.publishers - removed})
    )


def set_senders(target: Target, tenant_id: str, senders: frozenset[str]) -> Tenant:
    return update_tenant(target, tenant_id, lambda t: with_policy(t, {"senders": senders}))


def key_ids(target: Target, tenant_id: str) -> list[str]:
    """The tenant's API keys that exist: its first one (whose id is the tenant id), unless it was
    revoked, and its second keys, oldest first."""
    keys = []
    if _key_exists(target, tenant_id):
        keys.append(tenant_id)
    aliases: list[tuple[str, str]] = []
    pages = target.dynamodb.get_paginator("scan").paginate(
        TableName=target.tenants_table,
        FilterExpression="aliasOf = :tenant",
        ExpressionAttributeValues={":tenant": {"S": tenant_id}},
    )
    for page in pages:
        aliases.extend(
            (i.get("createdAt", {}).get("S", ""), i["tenantId"]["S"]) for i in page.get("Items", [])
        )
    return keys + [key for _, key in sorted(aliases)]


def _key_exists(target: Target, key_id: str) -> bool:
    try:
        target.apigateway.get_api_key(apiKey=key_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return False
        raise
    return True


def describe_keys(target: Target, tenant_id: str, *, reveal: bool) -> dict[str, Any]:
    ids = key_ids(target, tenant_id)
    if not reveal:
        return {"apiKeyIds": ids}
    keys = [{"id": key, "value": api_key_value(target, key)} for key in ids]
    # `apiKey`: the key to hand out now, the newest.
    return {"apiKeyIds": ids, "apiKeys": keys, **({"apiKey": keys[-1]["value"]} if keys else {})}


def rotate_key(target: Target, tenant_id: str) -> dict[str, Any]:
    """A second API key that acts as the tenant (API Gateway cannot change a key's value): same
    messages, policy and idempotency keys. Hand it out, then revoke the old key."""
    tenant = get_tenant(target, tenant_id)
    created_at = datetime.now(UTC).isoformat()
    key = target.apigateway.create_api_key(
        name=f"{target.key_prefix}{tenant.name}-{created_at[:19].replace(':', '')}",
        enabled=True,
        description=f"Sinch gateway tenant {tenant.name} ({tenant_id}), second key",
    )
    try:
        _attach(target, key["id"])
        target.dynamodb.put_item(
            TableName=target.tenants_table,
            Item=alias_item(key["id"], tenant_id, created_at),
            ConditionExpression="attribute_not_exists(tenantId)",
        )
    except ClientError:
        target.apigateway.delete_api_key(apiKey=key["id"])
        raise
    return {
        "tenantId": tenant_id,
        "apiKeyId": key["id"],
        "apiKey": key["value"],
        "apiKeyIds": key_ids(target, tenant_id),
    }


def revoke_key(target: Target, tenant_id: str, key_id: str) -> dict[str, Any]:
    """Delete one of the tenant's keys (the first one too: the tenant keeps its id); never the last."""
    get_tenant(target, tenant_id)
    keys = key_ids(target, tenant_id)
    if key_id not in keys:
        raise TenantError(f"{key_id} is not an API key of tenant {tenant_id} (its keys: {', '.join(keys)})")
    if len(keys) == 1:
        raise TenantError(
            f"{key_id} is tenant {tenant_id}'s last key: rotate-key first, or delete the tenant"
        )
    _delete_key(target, key_id)
    if key_id != tenant_id:
        target.dynamodb.delete_item(TableName=target.tenants_table, Key={"tenantId": {"S": key_id}})
    return {"tenantId": tenant_id, "revoked": key_id, "apiKeyIds": key_ids(target, tenant_id)}


def _delete_key(target: Target, key_id: str) -> None:
    """The key out of the usage plan, then gone: API Gateway refuses it from then on."""
    _unless_gone(
        lambda: target.apigateway.delete_usage_plan_key(usagePlanId=target.usage_plan_id, keyId=key_id)
    )
    _unless_gone(lambda: target.apigateway.delete_api_key(apiKey=key_id))


def _unless_gone(call: Callable[[], object]) -> None:
    """Make an API Gateway call; what it acts on being gone already is no error."""
    try:
        call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NotFoundException":
            raise


def rotate_secret(target: Target, tenant_id: str, grace: timedelta) -> dict[str, Any]:
    """A new callback secret. For `grace` the old one signs too (a second v1= in each callback's
    X-Gateway-Signature), so receivers can switch over without losing a callback."""
    until = datetime.now(UTC) + grace
    updated = update_tenant(
        target,
        tenant_id,
        lambda t: t.model_copy(
            update={
                "callback_secret": secrets.token_urlsafe(32),
                "previous_callback_secret": t.callback_secret if grace > timedelta(0) else None,
                "previous_callback_secret_until": until if grace > timedelta(0) else None,
            }
        ),
    )
    return {
        "tenantId": tenant_id,
        "callbackSecret": updated.callback_secret,
        "previousCallbackSecretUntil": until.isoformat() if grace > timedelta(0) else None,
    }


def delete_tenant(target: Target, tenant_id: str) -> dict[str, Any]:
    """Every API key of the tenant (out of the usage plan, deleted), its second keys' items, and
    its item. Its messages stay until their TTL, readable by no key; see the README."""
    get_tenant(target, tenant_id)
    keys = key_ids(target, tenant_id)
    for key in keys:
        _delete_key(target, key)
    for key in keys:
        if key != tenant_id:
            target.dynamodb.delete_item(TableName=target.tenants_table, Key={"tenantId": {"S": key}})
    target.dynamodb.delete_item(TableName=target.tenants_table, Key={"tenantId": {"S": tenant_id}})
    return {"deleted": tenant_id, "apiKeysDeleted": keys}


# --- where the tenants live -------------------------------------------------------------------


def stack_target(stack: str, region: str | None) -> Target:
    session = boto3.session.Session(region_name=region)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in session.client("cloudformation")
        .describe_stacks(StackName=stack)["Stacks"][0]
        .get("Outputs", [])
    }
    missing = [k for k in ("TenantsTableName", "UsagePlanId") if k not in outputs]
    if missing:
        raise TenantError(f"stack {stack} has no output {', '.join(missing)}: is it this gateway?")
    return Target(
        tenants_table=outputs["TenantsTableName"],
        usage_plan_id=outputs["UsagePlanId"],
        apigateway=session.client("apigateway"),
        dynamodb=session.client("dynamodb"),
        key_prefix=f"{stack}-",
    )


def read_local_state(state_file: Path) -> dict[str, Any]:
    state = read_state(state_file)
    if state is None:
        raise TenantError(f"{state_file} does not exist or is no stack's: is `make run` running?")
    return state


def local_target(state: dict[str, Any]) -> Target:
    """The local stack that wrote `state` (its stack.json)."""
    session = boto3.session.Session(
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's, not a secret
    )
    endpoint = state["aws_endpoint_url"]
    return Target(
        tenants_table=state["tenants_table"],
        usage_plan_id=state["usage_plan_id"],
        apigateway=session.client("apigateway", endpoint_url=endpoint),
        dynamodb=session.client("dynamodb", endpoint_url=endpoint),
    )


# --- the tenant's share of Sinch's rate -------------------------------------------------------


@dataclass(frozen=True)
class RateShareChange:
    """What --rate-weight, --rate-cap and --no-rate-cap ask for (None: leave as it is)."""

    weight: float | None = None
    cap_per_s: float | None = None
    no_cap: bool = False

    def applied(self, policy: TenantPolicy) -> TenantPolicy:
        update: dict[str, Any] = {}
        if self.weight is not None:
            update["rate_weight"] = self.weight
        if self.cap_per_s is not None or self.no_cap:
            update["rate_cap_per_s"] = self.cap_per_s
        try:
            return TenantPolicy.model_validate({**policy.model_dump(by_alias=False), **update})
        except ValidationError as exc:
            reasons = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise TenantError(f"not a rate share: {reasons}") from None
