"""devstack.aws_calls: what the recorder writes for DynamoDB's multi-item writes."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest
from botocore.client import BaseClient
from botocore.stub import Stubber

from devstack.aws_calls import install, read


def test_a_batch_write_is_recorded_once_per_item_on_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # install() patches botocore's client for the process: put the original back afterwards.
    monkeypatch.setattr(BaseClient, "_make_api_call", BaseClient._make_api_call)  # type: ignore[attr-defined]
    path = tmp_path / "QueueFunction.jsonl"
    install(path)
    client = botocore.session.get_session().create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    puts = [{"PutRequest": {"Item": {"id": {"S": f"m{n}"}, "status": {"S": "accepted"}}}} for n in range(25)]
    with Stubber(client) as stub:
        stub.add_response("batch_write_item", {})
        client.batch_write_item(  # type: ignore[attr-defined]  # botocore makes its methods at run time
            RequestItems={"Messages": puts, "Batches": [{"DeleteRequest": {"Key": {"id": {"S": "b1"}}}}]}
        )
    records = read(path)
    assert len(records) == 26  # items written, not the one call
    assert {r["action"] for r in records} == {"dynamodb:BatchWriteItem"}
    assert [r["id"] for r in records[:25]] == [f"m{n}" for n in range(25)]
    assert records[0]["TableName"] == "Messages" and records[0]["attributes"] == ["id", "status"]
    assert (records[25]["TableName"], records[25]["id"]) == ("Batches", "b1")
