"""Record the AWS API calls a function really makes, to hold its IAM role against them.

Development only. A worker whose stack sets ``DEVSTACK_AWS_CALLS_DIR`` installs a hook on
botocore's client before the handler is imported; every call the function makes then appends a
line to ``{dir}/{function name}.jsonl``: the IAM action and the resource it acts on (table and
index, queue URL, secret id, bucket, and the item's key for DynamoDB's item calls). No other
parameter is written: items and message bodies hold phone numbers, objects the media.
"""

from __future__ import annotations

import json
import os
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
        if operation_name == "TransactWriteItems":
            # IAM authorizes a transaction by the item actions in it, each on its own table and key.
            calls = [
                (_TRANSACT_ACTIONS[kind], params)
                for entry in api_params.get("TransactItems", [])
                for kind, params in entry.items()
            ]
        else:
            calls = [(operation_name, api_params)]
        # One write per line, appended: whole lines even with several workers per function.
        with path.open("a", encoding="utf-8") as log:
            for action, params in calls:
                log.write(json.dumps(_record(f"{prefix}:{action}", params)) + "\n")
        return make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = recorded  # type: ignore[attr-defined]


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _record(action: str, params: dict[str, Any]) -> dict[str, Any]:
    record = {"action": action, **{name: params[name] for name in _RESOURCE_PARAMETERS if name in params}}
    key = params.get("Key") or params.get("Item") or {}
    if isinstance(key, dict) and isinstance(key.get("id"), dict) and "S" in key["id"]:  # not S3's Key
        record["id"] = key["id"]["S"]
    return record


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
