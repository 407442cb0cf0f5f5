"""What each function may do on AWS: the one table the template's roles are checked against.

Each entry is a grant (action, resource, condition), the resource and condition as they are
written in the expanded template (intrinsic functions unresolved), in canonical JSON. The table
is written from the code: every call a function makes, on the resource it makes it on. DENIED
holds each role's explicit denials, written the same way. `permits` decides a recorded call
(devstack.aws_calls) as IAM would with these tables, conditions included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from typing import Any

from sinch_gateway.data.tenants import POLICY_ATTRIBUTES

Grant = tuple[str, str, str | None]

# X-Ray has no resource-level permissions: the only grants on every resource.
XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def ref(logical_id: str) -> dict[str, Any]:
    return {"Ref": logical_id}


def leading_keys(*patterns: str) -> dict[str, Any]:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}


# --- identity: what a role may read or write of an item ----------------------------------------------

# A tenant's policy, never its callback secrets: what the senders' TenantDirectory projects.
TENANT_POLICY_READ = {
    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(POLICY_ATTRIBUTES)},
    "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
}
# Opt-outs and inbound SMS are what handsets said: only Sinch's webhook writes them.
NO_OPT_OUT_WRITES = {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["optout#*", "inbound#*"]}}
MESSAGE_ID_SHAPE = "????????-????-????-????-????????????"
# The webhook's updates: a status move of a message, an opt-out, a template's settlement.
STATUS_MOVES = {
    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [MESSAGE_ID_SHAPE]},
    "ForAllValues:StringEquals": {
        "dynamodb:Attributes": [
            "id",
            "status",
            "statusRank",
            "updatedAt",
            "events",
            "leaseUntil",
            "reportNonces",
            "deliveredAs",
        ]
    },
}
OPT_OUTS = {
    "ForAllValues:StringLike": {
        "dynamodb:LeadingKeys": ["optout#*"],
        "dynamodb:Attributes": ["id", "sender#*"],
    }
}
TEMPLATE_SETTLEMENT = {
    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["template#*"]},
    "ForAllValues:StringEquals": {
        "dynamodb:Attributes": ["id", "status", "updatedAt", "mmsId", "trackingId", "errorCode", "errorText"]
    },
}


def grants(actions: Iterable[str], resource: Any, condition: Any = None) -> set[Grant]:
    return {
        (action, canonical(resource), None if condition is None else canonical(condition))
        for action in actions
    }


def _runtime(log_group: str) -> set[Grant]:
    """What every function needs to run: write its own log group, send its traces."""
    return grants(["logs:CreateLogStream", "logs:PutLogEvents"], arn(log_group)) | grants(XRAY_ACTIONS, "*")


MESSAGE_INDEX = {"Fn::Sub": "${MessagesTable.Arn}/index/byClientReference"}
TENANT_INDEX = {"Fn::Sub": "${MessagesTable.Arn}/index/byTenant"}
BATCH_INDEX = {"Fn::Sub": "${MessagesTable.Arn}/index/byBatch"}
STREAM_READ = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
]
# Kept media's objects have random keys: no grant can name one, only their prefix.
KEPT_MEDIA = {"Fn::Sub": "${MediaBucket.Arn}/media/*"}
KEPT_MEDIA_ACTIONS = frozenset({"s3:PutObject", "s3:GetObject"})
READ_WRITE_ITEM = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]

EXPECTED: dict[str, set[Grant]] = {
    "SendFunction": _runtime("SendFunctionLogGroup")
    # repository: create, get, claim/transition/set_sinch_id; the listings (by clientReference, by tenant)
    | grants(READ_WRITE_ITEM, arn("MessagesTable"))
    | grants(["dynamodb:Query"], MESSAGE_INDEX)
    | grants(["dynamodb:Query"], TENANT_INDEX)
    # a batch's counts and its messages
    | grants(["dynamodb:Query"], BATCH_INDEX)
    # a batch's recipients' opt-outs, read together
    | grants(["dynamodb:BatchGetItem"], arn("MessagesTable"), leading_keys("optout#*"))
    # batches: recorded (POST), read (GET), cancelled (DELETE)
    | grants(READ_WRITE_ITEM, arn("BatchesTable"))
    # Powertools Idempotency: get_item, put_item, update_item, delete_item (on a failed request)
    | grants([*READ_WRITE_ITEM, "dynamodb:DeleteItem"], arn("IdempotencyTable"))
    | grants(["dynamodb:GetItem"], arn("TenantsTable"), TENANT_POLICY_READ)
    # a retry on SendQueue; the dead letter when the first attempt was the last one allowed
    | grants(["sqs:SendMessage"], arn("SendQueue"))
    | grants(["sqs:SendMessage"], arn("DeadLetterQueue"))
    # Powertools Parameters
    | grants(["secretsmanager:GetSecretValue"], ref("SinchSecret"))
    # checked media: kept, and linked to Sinch by presigned GETs
    | grants(KEPT_MEDIA_ACTIONS, KEPT_MEDIA),
    "QueueFunction": _runtime("QueueFunctionLogGroup")
    # as SendFunction's; the messages a batch's slice made already, read in bulk
    | grants([*READ_WRITE_ITEM, "dynamodb:BatchGetItem"], arn("MessagesTable"))
    # a published batch recorded; a slice's batch read
    | grants(["dynamodb:GetItem", "dynamodb:PutItem"], arn("BatchesTable"))
    | grants(["dynamodb:GetItem"], arn("TenantsTable"), TENANT_POLICY_READ)
    # Lambda's event source mapping polling SendQueue
    | grants(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], arn("SendQueue"))
    | grants(["sqs:SendMessage"], arn("SendQueue"))
    | grants(["sqs:SendMessage"], arn("DeadLetterQueue"))
    | grants(["secretsmanager:GetSecretValue"], ref("SinchSecret"))
    | grants(KEPT_MEDIA_ACTIONS, KEPT_MEDIA),
    "WebhookFunction": _runtime("WebhookFunctionLogGroup")
    # the message an inbound SMS answers, and an inbound SMS seen before
    | grants(["dynamodb:GetItem"], arn("MessagesTable"))
    # advance / append_event on messages; an opt-out's update; a template's postback
    | grants(["dynamodb:UpdateItem"], arn("MessagesTable"), STATUS_MOVES)
    | grants(["dynamodb:UpdateItem"], arn("MessagesTable"), OPT_OUTS)
    | grants(["dynamodb:UpdateItem"], arn("MessagesTable"), TEMPLATE_SETTLEMENT)
    # unmatched reports, raw postbacks and inbound SMS: bookkeeping items only
    | grants(
        ["dynamodb:PutItem"], arn("MessagesTable"), leading_keys("unmatched#*", "postback#*", "inbound#*")
    )
    | grants(["secretsmanager:GetSecretValue"], ref("WebhookSecret")),
    "CallbackFunction": _runtime("CallbackFunctionLogGroup")
    # Lambda's event source mapping reading MessagesTable's stream
    | grants(
        [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        ],
        {"Fn::GetAtt": ["MessagesTable", "StreamArn"]},
    )
    # the tenant's callback secret
    | grants(["dynamodb:GetItem"], arn("TenantsTable"))
    # Lambda's event source mapping polling CallbackQueue; enqueue (dispatch) and backoff (delivery)
    | grants(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], arn("CallbackQueue"))
    | grants(["sqs:SendMessage", "sqs:ChangeMessageVisibility"], arn("CallbackQueue"))
    | grants(["sqs:SendMessage"], arn("CallbackDeadLetterQueue"))
    # Lambda's on-failure records of the stream mapping (sent with the function's role)
    | grants(["sqs:SendMessage"], arn("MessageChangesDeadLetterQueue"))
    # each failing receiver's health (usecases.callback_breaker)
    | grants(
        ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        arn("MessagesTable"),
        leading_keys("receiver#*"),
    ),
}


# What a role refuses its function outright, whatever it allows.
WRITE_ITEM = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
DENIED: dict[str, set[Grant]] = {
    "SendFunction": grants(WRITE_ITEM, arn("MessagesTable"), NO_OPT_OUT_WRITES),
    "QueueFunction": grants(WRITE_ITEM, arn("MessagesTable"), NO_OPT_OUT_WRITES),
    "WebhookFunction": set(),
    "CallbackFunction": set(),
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role.get("Properties", {}).get("Policies", []):
        yield from _as_list(policy["PolicyDocument"]["Statement"])


def statement_grants(statement: dict[str, Any]) -> set[Grant]:
    condition = statement.get("Condition")
    return {
        (action, canonical(resource), None if condition is None else canonical(condition))
        for action in _as_list(statement.get("Action", []))
        for resource in _as_list(statement.get("Resource", []))
    }


def function_roles(resources: dict[str, Any]) -> dict[str, str]:
    """Each Lambda function's logical id -> its role's logical id."""
    roles = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            role = resource["Properties"]["Role"]
            assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{logical_id}: role {role!r}"
            roles[logical_id] = role["Fn::GetAtt"][0]
    return roles


def violations(resources: dict[str, Any]) -> list[str]:
    """Everything in the expanded template's IAM that the table does not allow, in words."""
    found = []
    roles = function_roles(resources)
    if set(roles) != set(EXPECTED):
        found.append(f"functions {sorted(roles)} are not those of the table {sorted(EXPECTED)}")
    for logical_id, resource in resources.items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User"):
            found.append(f"{logical_id}: a {resource['Type']} (roles carry their own inline policies)")
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resource["Properties"]
        if props.get("ManagedPolicyArns"):
            found.append(f"{logical_id}: managed policies {props['ManagedPolicyArns']}")
        for statement in statements(resource):
            found.extend(f"{logical_id}: {problem}" for problem in _statement_problems(statement))
    for function, role in roles.items():
        role_statements = list(statements(resources.get(role, {})))
        granted = set().union(*(statement_grants(s) for s in role_statements if s.get("Effect") == "Allow"))
        extra, missing = granted - EXPECTED.get(function, set()), EXPECTED.get(function, set()) - granted
        found.extend(f"{function}: grants {g} beyond what its code uses" for g in sorted(extra, key=str))
        found.extend(f"{function}: lacks {g}" for g in sorted(missing, key=str))
        denied = set().union(*(statement_grants(s) for s in role_statements if s.get("Effect") == "Deny"))
        wanted = DENIED.get(function, set())
        found.extend(f"{function}: denies {d} the table does not" for d in sorted(denied - wanted, key=str))
        found.extend(f"{function}: no longer denies {d}" for d in sorted(wanted - denied, key=str))
    return found


def _statement_problems(statement: dict[str, Any]) -> Iterator[str]:
    unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
    if unknown or statement.get("Effect") not in ("Allow", "Deny"):
        yield f"statement {statement} is not a plain Allow or Deny of actions on resources"
    actions = _as_list(statement.get("Action", []))
    for action in actions:
        if "*" in action:
            yield f"wildcard action {action}"
    for resource in _as_list(statement.get("Resource", [])):
        allowed = (resource == "*" and set(actions) <= XRAY_ACTIONS) or (
            resource == KEPT_MEDIA and set(actions) <= KEPT_MEDIA_ACTIONS
        )
        if "*" in canonical(resource) and not allowed:
            yield f"wildcard resource {resource} for {actions}"


# --- a recorded call, decided as IAM decides it -----------------------------------------------------


def permits(function: str, call: dict[str, Any], resource: str) -> Grant | None:
    """The grant that allows `call` (devstack.aws_calls' record) on `resource` (canonical JSON),
    unless one of the role's denials refuses it; None when IAM would refuse it."""
    if any(_matches(d, call, resource) for d in DENIED[function]):
        return None
    return next((g for g in sorted(EXPECTED[function], key=str) if _matches(g, call, resource)), None)


def _matches(grant: Grant, call: dict[str, Any], resource: str) -> bool:
    action, granted_resource, condition = grant
    if (action, granted_resource) != (call["action"], resource):
        return False
    return condition is None or all(
        _holds(operator, values, _context(key, call))
        for operator, tests in json.loads(condition).items()
        for key, values in tests.items()
    )


def _context(key: str, call: dict[str, Any]) -> list[str] | None:
    """A condition key's values for the call: None when the request does not carry it."""
    if key == "dynamodb:LeadingKeys":  # MessagesTable's partition key: the only one conditioned
        return call["ids"] if "ids" in call else [call["id"]] if "id" in call else None
    if key == "dynamodb:Attributes":
        return call.get("attributes")
    if key == "dynamodb:Select":
        return [call["select"]] if "select" in call else None
    if key == "dynamodb:ReturnValues":
        return [call["returnValues"]] if "returnValues" in call else None
    raise AssertionError(f"a condition key the check cannot evaluate: {key}")


def _holds(operator: str, allowed: Any, values: list[str] | None) -> bool:
    patterns = _as_list(allowed)
    qualifier, _, test = operator.rpartition(":")
    like = test.removesuffix("IfExists") == "StringLike"
    if test.removesuffix("IfExists") not in ("StringLike", "StringEquals"):
        raise AssertionError(f"a condition operator the check cannot evaluate: {operator}")
    if values is None:
        # IAM: a missing key makes a plain operator false, ...IfExists and ForAllValues true.
        return test.endswith("IfExists") or qualifier == "ForAllValues"

    def one(value: str) -> bool:
        return any(fnmatchcase(value, p) if like else value == p for p in patterns)

    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)
    return all(one(v) for v in values)  # ForAllValues, or a single-valued key
