"""Manage the tenants of a deployed gateway (or of the local stack): ``python -m ops.tenants``.

A tenant is one client application: an API key in the stack's usage plan, and an item in
TenantsTable with its policy (allowed destination countries, MMS) and its callback secret.

    python -m ops.tenants --stack sinch-gateway create --name acme --countries US,CA
    python -m ops.tenants --stack sinch-gateway policy <tenant id> --countries US --no-mms
    python -m ops.tenants --stack sinch-gateway policy <tenant id> --rate-weight 2 --rate-cap 5
    python -m ops.tenants --stack sinch-gateway show <tenant id> --reveal
    python -m ops.tenants --stack sinch-gateway list
    python -m ops.tenants --local list          # the stack `make run` started (its DEVSTACK_STATE_DIR)

Every command prints JSON. AWS credentials and region come from the usual places (AWS_PROFILE...).

Policy flags (create and policy): --countries / --all-countries, --mms / --no-mms, and the
tenant's share of Sinch's rate among the tenants sending at the moment: --rate-weight W (its
share relative to theirs, 1 by default; 2 gets twice the share of a tenant at 1) and
--rate-cap N / --no-rate-cap (at most N calls to Sinch a second for this tenant, whatever is free).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import phonenumbers
from botocore.exceptions import ClientError
from pydantic import ValidationError

from devstack.state import stack_file
from sinch_gateway.data.tenants import tenant_from_item, tenant_to_item
from sinch_gateway.domain.tenants import MAX_RATE_WEIGHT, MIN_RATE_WEIGHT, Tenant, TenantPolicy

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
    return tenant_from_item(answer["Item"])


def list_tenants(target: Target) -> list[Tenant]:
    tenants: list[Tenant] = []
    pages = target.dynamodb.get_paginator("scan").paginate(TableName=target.tenants_table)
    for page in pages:
        tenants.extend(tenant_from_item(item) for item in page.get("Items", []))
    return sorted(tenants, key=lambda t: (t.name, t.tenant_id))


def set_policy(
    target: Target,
    tenant_id: str,
    *,
    allowed_countries: frozenset[str] | bool | None = False,
    mms_allowed: bool | None = None,
    rate_share: RateShareChange | None = None,
) -> Tenant:
    """Change what a tenant may send (False: leave the countries as they are). Functions pick it
    up within their policy cache time (TenantPolicyCacheSeconds)."""
    tenant = get_tenant(target, tenant_id)
    policy = tenant.policy
    if allowed_countries is not False:
        policy = policy.model_copy(update={"allowed_countries": allowed_countries})
    if mms_allowed is not None:
        policy = policy.model_copy(update={"mms_allowed": mms_allowed})
    if rate_share is not None:
        policy = rate_share.applied(policy)
    updated = tenant.model_copy(update={"policy": policy})
    target.dynamodb.put_item(
        TableName=target.tenants_table,
        Item=tenant_to_item(updated),
        ConditionExpression="attribute_exists(tenantId)",
    )
    return updated


def api_key_value(target: Target, tenant_id: str) -> str:
    return str(target.apigateway.get_api_key(apiKey=tenant_id, includeValue=True)["value"])


# --- command line -----------------------------------------------------------------------------


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
    try:
        state: dict[str, Any] = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TenantError(f"{state_file} does not exist: is `make run` running?") from None
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

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RateShareChange | None:
        change = cls(args.rate_weight, args.rate_cap, args.no_rate_cap)
        return None if change == cls() else change

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


def _rate_share_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate-weight",
        type=float,
        metavar="W",
        help=f"share of Sinch's rate relative to the other tenants sending ({MIN_RATE_WEIGHT:g} to "
        f"{MAX_RATE_WEIGHT:g}; 1 by default)",
    )
    cap = parser.add_mutually_exclusive_group()
    cap.add_argument(
        "--rate-cap", type=float, metavar="N", help="at most N calls to Sinch a second, whatever is free"
    )
    cap.add_argument("--no-rate-cap", action="store_true", help="no cap of its own (the default)")


def _policy_options(parser: argparse.ArgumentParser) -> None:
    countries = parser.add_mutually_exclusive_group()
    countries.add_argument("--countries", help="allowed destination countries, e.g. US,CA (ISO codes)")
    countries.add_argument("--all-countries", action="store_true", help="allow every country")
    mms = parser.add_mutually_exclusive_group()
    mms.add_argument("--mms", dest="mms", action="store_true", default=None, help="allow MMS")
    mms.add_argument("--no-mms", dest="mms", action="store_false", help="refuse MMS")
    _rate_share_options(parser)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m ops.tenants", description=__doc__.split("\n\n")[0])
    where = top.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="the deployed stack's name")
    where.add_argument(
        "--local", action="store_true", help="the local stack ($DEVSTACK_STATE_DIR, default .local)"
    )
    top.add_argument("--region", help="AWS region of the stack (default: your configured one)")
    top.add_argument("--state", type=Path, default=stack_file(os.environ), help=argparse.SUPPRESS)
    commands = top.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new tenant: API key, usage plan, policy, callback secret")
    create.add_argument("--name", required=True)
    create.add_argument("--api-key-id", help="adopt this existing API key instead of making one")
    _policy_options(create)
    commands.add_parser("list", help="every tenant and its policy")
    show = commands.add_parser("show", help="one tenant")
    show.add_argument("tenant_id")
    show.add_argument("--reveal", action="store_true", help="also print its API key and callback secret")
    policy = commands.add_parser("policy", help="change what a tenant may send")
    policy.add_argument("tenant_id")
    _policy_options(policy)
    return top


def run(args: argparse.Namespace, target: Target) -> Any:
    countries: frozenset[str] | bool | None = False
    if getattr(args, "countries", None) is not None:
        countries = parse_countries(args.countries)
    elif getattr(args, "all_countries", False):
        countries = None
    if args.command == "create":
        policy = TenantPolicy(
            allowed_countries=None if countries is False else countries,
            mms_allowed=True if args.mms is None else args.mms,
        )
        rate_share = RateShareChange.from_args(args)
        if rate_share is not None:
            policy = rate_share.applied(policy)
        return create_tenant(target, args.name, policy, api_key_id=args.api_key_id).as_json()
    if args.command == "list":
        return [describe(t) for t in list_tenants(target)]
    if args.command == "show":
        tenant = get_tenant(target, args.tenant_id)
        shown = describe(tenant, reveal=args.reveal)
        if args.reveal:
            shown["apiKey"] = api_key_value(target, tenant.tenant_id)
        return shown
    rate_share = RateShareChange.from_args(args)
    if countries is False and args.mms is None and rate_share is None:
        raise TenantError(
            "say what to change: --countries, --all-countries, --mms, --no-mms, --rate-weight, "
            "--rate-cap or --no-rate-cap"
        )
    return describe(
        set_policy(
            target, args.tenant_id, allowed_countries=countries, mms_allowed=args.mms, rate_share=rate_share
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.local:
            target = local_target(read_local_state(args.state))
        else:
            target = stack_target(args.stack, args.region)
        print(json.dumps(run(args, target), indent=2))
    except TenantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
