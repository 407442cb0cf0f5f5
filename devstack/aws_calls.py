"""Record the AWS API calls a function really makes, to hold its IAM role against them.

Development only. A worker whose stack sets ``DEVSTACK_AWS_CALLS_DIR`` installs a hook on
botocore's client before the handler is imported; every call the function makes then appends a
line to ``{dir}/{function name}.jsonl``: the IAM action and the resource it acts on (table and
index, queue URL, secret id, bucket, and the item's key for DynamoDB's item calls), and for
DynamoDB what IAM's condition keys see of it: the top-level attribute names it names
(dynamodb:Attributes), its Select and its ReturnValues. No other parameter is written: items and
message bodies hold phone numbers, objects the media.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

ENV = "DEVSTACK_AWS_CALLS_DIR"
_RESOURCE_PARAMETERS = ("TableName", "IndexName", "QueueUrl", "SecretId", "Bucket")


def install_from_environment(function_name: str) -> None:
    """Install the hook if the stack asked for it; the function itself never sees the setting."""
    directory = os.environ.pop(ENV, None)
    if directory:
        install(Path(directory) / f"{function_name}.jsonl")


def install(path: Path) -> None:
    from botocore.client import BaseClient

    path.parent.mkdir(parents=True, exist_ok=True)
    make_api_call = BaseClient._make_api_call  # type: ignore[attr-defined]  # botocore's private hook point

    def recorded(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        prefix = self.meta.service_model.endpoint_prefix
        # One write per line, appended: whole lines even with several workers per function.
        with path.open("a", encoding="utf-8") as log:
            for action, params in item_calls(operation_name, api_params):
                log.write(json.dumps(_record(f"{prefix}:{action}", params)) + "\n")
        return make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = recorded  # type: ignore[attr-defined]


def item_calls(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A call as the item calls IAM authorizes and DynamoDB bills, one per item written:
    a transaction is its item actions, each on its own table and key; a BatchWriteItem keeps its
    action (IAM's name for it) on each of its items' tables and keys, so 25 items are 25 records."""
    if operation == "TransactWriteItems":
        return [
            (_TRANSACT_ACTIONS[kind], entry_params)
            for entry in params.get("TransactItems", [])
            for kind, entry_params in entry.items()
        ]
    if operation == "BatchWriteItem":
        return [
            (
                operation,
                {"TableName": table, **(request.get("PutRequest") or request.get("DeleteRequest") or {})},
            )
            for table, requests in (params.get("RequestItems") or {}).items()
            for request in requests
        ]
    return [(operation, params)]


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _record(action: str, params: dict[str, Any]) -> dict[str, Any]:
    if action == "dynamodb:BatchGetItem":  # one table's keys (RequestItems), read together
        [(table, request)] = params["RequestItems"].items()
        ids = [key["id"]["S"] for key in request["Keys"]]
        return {"action": action, "TableName": table, "ids": ids, **_condition_keys("BatchGetItem", request)}
    record = {"action": action, **{name: params[name] for name in _RESOURCE_PARAMETERS if name in params}}
    key = params.get("Key") or params.get("Item") or {}
    if isinstance(key, dict) and isinstance(key.get("id"), dict) and "S" in key["id"]:  # not S3's Key
        record["id"] = key["id"]["S"]
    if action.startswith("dynamodb:"):
        record.update(_condition_keys(action.removeprefix("dynamodb:"), params))
    return record


# --- what DynamoDB's IAM condition keys see of a request ------------------------------------------

_EXPRESSIONS = (
    "UpdateExpression",
    "ConditionExpression",
    "ProjectionExpression",
    "KeyConditionExpression",
    "FilterExpression",
)
_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN"})
_TOKEN = re.compile(r"[#:]?[A-Za-z_][A-Za-z0-9_]*|\S")
_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


def _condition_keys(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    names = params.get("ExpressionAttributeNames") or {}
    attributes = (
        set(params.get("Key") or {})
        | set(params.get("Item") or {})
        | set(params.get("AttributesToGet") or [])
    )
    for expression in _EXPRESSIONS:
        attributes.update(top_level_names(params.get(expression) or "", names))
    if attributes:
        keys["attributes"] = sorted(attributes)
    if operation in _READS:
        projected = "ProjectionExpression" in params or "AttributesToGet" in params
        keys["select"] = "SPECIFIC_ATTRIBUTES" if projected else params.get("Select", "ALL_ATTRIBUTES")
    if operation in _WRITES:
        keys["returnValues"] = params.get("ReturnValues", "NONE")
    return keys


def top_level_names(expression: str, names: dict[str, str]) -> list[str]:
    """The top-level attributes an expression names (`#s.#at` names `#s`'s attribute; functions
    and keywords are none), placeholders resolved."""
    tokens = _TOKEN.findall(expression)
    found = []
    for index, token in enumerate(tokens):
        before = tokens[index - 1] if index else ""
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token[0] not in "#_" and not token[0].isalpha():
            continue  # a :value, an operator or a bracket
        if before == "." or after == "(" or token.upper() in _KEYWORDS:
            continue
        found.append(names.get(token, token))
    return found


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
