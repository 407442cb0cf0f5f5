"""Manage the tenants of a deployed gateway (or of the local stack): ``python -m ops.tenants``.

A tenant is one client application: an API key in the stack's usage plan, and an item in
TenantsTable with its policy (allowed destination countries, MMS) and its callback secret.

    python -m ops.tenants --stack sinch-gateway create --name acme --countries US,CA
    python -m ops.tenants --stack sinch-gateway policy <tenant id> --countries US --no-mms
    python -m ops.tenants --stack sinch-gateway policy <tenant id> --senders "Acme,Acme Shop"
    python -m ops.tenants --stack sinch-gateway publishers add <tenant id> AROA...
    python -m ops.tenants --stack sinch-gateway policy <tenant id> --rate-weight 2 --rate-cap 5
    python -m ops.tenants --stack sinch-gateway show <tenant id> --reveal
    python -m ops.tenants --stack sinch-gateway list
    python -m ops.tenants --stack sinch-gateway rotate-key <tenant id>     # then revoke-key the old one
    python -m ops.tenants --stack sinch-gateway rotate-secret <tenant id> --grace-hours 24
    python -m ops.tenants --stack sinch-gateway delete <tenant id> --yes
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
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway_admin.local_stack import stack_file
from gateway_admin.tenants import (
    RateShareChange,
    Target,
    TenantError,
    add_publishers,
    create_tenant,
    delete_tenant,
    describe,
    describe_keys,
    get_tenant,
    list_tenants,
    local_target,
    parse_countries,
    parse_principals,
    parse_senders,
    read_local_state,
    remove_publishers,
    revoke_key,
    rotate_key,
    rotate_secret,
    set_policy,
    stack_target,
)
from sinch_gateway.domain.tenants import MAX_RATE_WEIGHT, MIN_RATE_WEIGHT, TenantPolicy


def _identity_options(parser: argparse.ArgumentParser, *, publishers: bool = False) -> None:
    senders = parser.add_mutually_exclusive_group()
    senders.add_argument("--senders", help='sender ids it may show as fromMask, e.g. "Acme,Acme Shop"')
    senders.add_argument("--no-senders", action="store_true", help="allow no fromMask (the default)")
    if publishers:
        parser.add_argument(
            "--publishers", help="publishers' IAM unique ids (AIDA..., AROA...), comma separated"
        )


def identity_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The policy fields the identity options set: `senders`, and `publishers` on create."""
    changes: dict[str, Any] = {}
    if getattr(args, "senders", None) is not None:
        changes["senders"] = parse_senders(args.senders)
    elif getattr(args, "no_senders", False):
        changes["senders"] = frozenset()
    if getattr(args, "publishers", None):
        changes["publishers"] = parse_principals([p.strip() for p in args.publishers.split(",") if p.strip()])
    return changes


def _grace(hours: float) -> timedelta:
    if not 0 <= hours <= 24 * 30:
        raise TenantError("--grace-hours is 0 (the old secret stops signing at once) to 720 (30 days)")
    return timedelta(hours=hours)


def _publishers_command(args: argparse.Namespace, target: Target) -> Any:
    if args.action == "add":
        tenant = add_publishers(target, args.tenant_id, args.principals)
    elif args.action == "remove":
        tenant = remove_publishers(target, args.tenant_id, args.principals)
    else:
        tenant = get_tenant(target, args.tenant_id)
    return {"tenantId": tenant.tenant_id, "publishers": sorted(tenant.policy.publishers)}


def _delete_command(args: argparse.Namespace, target: Target) -> Any:
    if not args.yes:
        raise TenantError(f"deleting tenant {args.tenant_id} deletes its API keys for good: add --yes")
    return delete_tenant(target, args.tenant_id)


IDENTITY_COMMANDS: dict[str, Callable[[argparse.Namespace, Target], Any]] = {
    "publishers": _publishers_command,
    "rotate-key": lambda args, target: rotate_key(target, args.tenant_id),
    "revoke-key": lambda args, target: revoke_key(target, args.tenant_id, args.key_id),
    "rotate-secret": lambda args, target: rotate_secret(target, args.tenant_id, _grace(args.grace_hours)),
    "delete": _delete_command,
}


def _identity_commands(commands: Any) -> None:
    publishers = commands.add_parser("publishers", help="who may publish to SendQueue for a tenant")
    action = publishers.add_subparsers(dest="action", required=True)
    for name, text in (("add", "register principals"), ("remove", "unregister principals")):
        sub = action.add_parser(name, help=text)
        sub.add_argument("tenant_id")
        sub.add_argument(
            "principals", nargs="+", metavar="UNIQUE_ID", help="AIDA... (user) or AROA... (role)"
        )
    action.add_parser("list", help="the registered principals").add_argument("tenant_id")
    rotate = commands.add_parser("rotate-key", help="a second API key acting as the tenant")
    rotate.add_argument("tenant_id")
    revoke = commands.add_parser("revoke-key", help="delete one of a tenant's API keys")
    revoke.add_argument("tenant_id")
    revoke.add_argument("key_id")
    secret = commands.add_parser(
        "rotate-secret", help="a new callback secret; the old one signs too for a while"
    )
    secret.add_argument("tenant_id")
    secret.add_argument(
        "--grace-hours", type=float, default=24.0, help="how long the old secret still signs (24)"
    )
    delete = commands.add_parser(
        "delete", help="a tenant's keys and item (its messages stay until their TTL)"
    )
    delete.add_argument("tenant_id")
    delete.add_argument("--yes", action="store_true", help="yes, delete its API keys for good")


def rate_share_change(args: argparse.Namespace) -> RateShareChange | None:
    """What --rate-weight, --rate-cap and --no-rate-cap ask for; None when none was given."""
    change = RateShareChange(args.rate_weight, args.rate_cap, args.no_rate_cap)
    return None if change == RateShareChange() else change


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


def _policy_options(parser: argparse.ArgumentParser, *, countries_required: bool = False) -> None:
    countries = parser.add_mutually_exclusive_group(required=countries_required)
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
    # Which countries a new tenant may text is always said: "every country" is a choice too.
    _policy_options(create, countries_required=True)
    _identity_options(create, publishers=True)
    commands.add_parser("list", help="every tenant and its policy")
    show = commands.add_parser("show", help="one tenant")
    show.add_argument("tenant_id")
    show.add_argument("--reveal", action="store_true", help="also print its API key and callback secret")
    policy = commands.add_parser("policy", help="change what a tenant may send")
    policy.add_argument("tenant_id")
    _policy_options(policy)
    _identity_options(policy)
    _identity_commands(commands)
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
        policy = policy.model_copy(update=identity_changes(args))
        rate_share = rate_share_change(args)
        if rate_share is not None:
            policy = rate_share.applied(policy)
        return create_tenant(target, args.name, policy, api_key_id=args.api_key_id).as_json()
    if args.command in IDENTITY_COMMANDS:
        return IDENTITY_COMMANDS[args.command](args, target)
    if args.command == "list":
        return [describe(t) for t in list_tenants(target)]
    if args.command == "show":
        tenant = get_tenant(target, args.tenant_id)
        shown = describe(tenant, reveal=args.reveal)
        shown.update(describe_keys(target, tenant.tenant_id, reveal=args.reveal))
        return shown
    identity = identity_changes(args)
    rate_share = rate_share_change(args)
    if countries is False and args.mms is None and not identity and rate_share is None:
        raise TenantError(
            "say what to change: --countries, --all-countries, --mms, --no-mms, --senders, --no-senders, "
            "--rate-weight, --rate-cap or --no-rate-cap"
        )
    return describe(
        set_policy(
            target,
            args.tenant_id,
            allowed_countries=countries,
            mms_allowed=args.mms,
            rate_share=rate_share,
            identity=identity,
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
