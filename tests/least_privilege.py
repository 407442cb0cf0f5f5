"""What each function may do on AWS: the one table the template's roles are checked against.

Each entry is a grant (action, resource, condition), the resource and condition as they are
written in the expanded template (intrinsic functions unresolved), in canonical JSON. The table
is written from the code: every call a function makes, on the resource it makes it on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

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


def grants(actions: Iterable[str], resource: Any, condition: Any = None) -> set[Grant]:
    return {
        (action, canonical(resource), None if condition is None else canonical(condition))
        for action in actions
    }


def _runtime(log_group: str) -> set[Grant]:
    """What every function needs to run: write its own log group, send its traces."""
    return grants(["logs:CreateLogStream", "logs:PutLogEvents"], arn(log_group)) | grants(XRAY_ACTIONS, "*")


MESSAGE_INDEX = {"Fn::Sub": "${MessagesTable.Arn}/index/byClientReference"}
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
    # repository: create, get, claim/transition/set_batch; the clientReference listing
    | grants(READ_WRITE_ITEM, arn("MessagesTable"))
    | grants(["dynamodb:Query"], MESSAGE_INDEX)
    # Powertools Idempotency: get_item, put_item, update_item, delete_item (on a failed request)
    | grants([*READ_WRITE_ITEM, "dynamodb:DeleteItem"], arn("IdempotencyTable"))
    | grants(["dynamodb:GetItem"], arn("TenantsTable"))
    # a retry on SendQueue; the dead letter when the first attempt was the last one allowed
    | grants(["sqs:SendMessage"], arn("SendQueue"))
    | grants(["sqs:SendMessage"], arn("DeadLetterQueue"))
    # Powertools Parameters
    | grants(["secretsmanager:GetSecretValue"], ref("SinchSecret"))
    # checked media: kept, and linked to Sinch by presigned GETs
    | grants(KEPT_MEDIA_ACTIONS, KEPT_MEDIA),
    "RetryFunction": _runtime("RetryFunctionLogGroup")
    | grants(READ_WRITE_ITEM, arn("MessagesTable"))
    | grants(["dynamodb:GetItem"], arn("TenantsTable"))
    # Lambda's event source mapping polling SendQueue
    | grants(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], arn("SendQueue"))
    | grants(["sqs:SendMessage"], arn("SendQueue"))
    | grants(["sqs:SendMessage"], arn("DeadLetterQueue"))
    | grants(["secretsmanager:GetSecretValue"], ref("SinchSecret"))
    | grants(KEPT_MEDIA_ACTIONS, KEPT_MEDIA),
    "DeliveryReportFunction": _runtime("DeliveryReportFunctionLogGroup")
    # advance / append_event on messages; an opt-out's update; the message an inbound SMS
    # answers, and an inbound SMS seen before
    | grants(["dynamodb:GetItem", "dynamodb:UpdateItem"], arn("MessagesTable"))
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
        granted = set().union(*(statement_grants(s) for s in statements(resources.get(role, {}))))
        extra, missing = granted - EXPECTED.get(function, set()), EXPECTED.get(function, set()) - granted
        found.extend(f"{function}: grants {g} beyond what its code uses" for g in sorted(extra, key=str))
        found.extend(f"{function}: lacks {g}" for g in sorted(missing, key=str))
    return found


def _statement_problems(statement: dict[str, Any]) -> Iterator[str]:
    unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
    if unknown or statement.get("Effect") != "Allow":
        yield f"statement {statement} is not a plain Allow of actions on resources"
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
