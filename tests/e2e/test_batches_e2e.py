"""/v1/batches over HTTP through the local stack: a small batch is taken (its refused recipient
listed), recorded in the stack's BatchesTable and read back; its messages and counts come from
the byBatch index the template gives MessagesTable; a cancel is final; another tenant's batch is a
404."""

import time
import uuid
from collections.abc import Iterator

import pytest

from devstack import aws
from gateway_admin import tenants as admin
from sinch_gateway.domain.tenants import TenantPolicy
from tests.e2e.conftest import LocalStack

RECIPIENTS = ["+12025550143", "+12025550144", "+12025550145"]


@pytest.fixture
def fresh(local: LocalStack) -> Iterator[str]:
    """A tenant of the test's own, deleted afterwards; its API key."""
    target = admin.local_target(local.config)
    created = admin.create_tenant(target, f"batcher-{time.time()}", TenantPolicy())
    yield created.api_key
    admin.delete_tenant(target, created.tenant.tenant_id)


def test_the_stacks_tables_have_what_batches_need(local: LocalStack) -> None:
    ddb = aws.client("dynamodb", local.config["aws_endpoint_url"], local.config["region"])
    messages = ddb.describe_table(TableName=local.config["messages_table"])["Table"]
    [index] = [i for i in messages["GlobalSecondaryIndexes"] if i["IndexName"] == "byBatch"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["gatewayBatchId", "createdAt"]
    batches = ddb.describe_table(TableName=local.config["tables"]["BatchesTable"])["Table"]
    assert batches["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_a_small_batch_is_taken_read_back_and_cancelled(local: LocalStack, fresh: str) -> None:
    answer = local.api(
        "POST",
        "/v1/batches",
        {
            "to": [*RECIPIENTS, "555-0199"],
            "text": "Hi ${name}, your table is ready",
            "parameters": {"name": {RECIPIENTS[0]: "Ann", "default": "there"}},
            "clientReference": "tables-7",
        },
        key=fresh,
        headers={"Idempotency-Key": "e2e-" + uuid.uuid4().hex},
    )

    assert answer.status == 202, answer.body
    batch = answer.body
    assert (batch["status"], batch["recipients"]) == ("accepted", 3)
    assert [(r["to"], r["type"]) for r in batch["refused"]] == [("555-0199", "malformed")]
    assert answer.headers["location"] == f"/v1/batches/{batch['id']}"

    ddb = aws.client("dynamodb", local.config["aws_endpoint_url"], local.config["region"])
    item = ddb.get_item(TableName=local.config["tables"]["BatchesTable"], Key={"id": {"S": batch["id"]}})[
        "Item"
    ]
    assert (item["recipients"]["N"], item["refused"]["N"], item["slices"]["N"]) == ("3", "1", "1")
    view = local.api("GET", f"/v1/batches/{batch['id']}", key=fresh)
    assert view.status == 200, view.body
    assert view.body["recipients"] == 3
    assert sum(view.body["counts"].values()) == 3  # a recipient with no message yet: accepted
    assert view.body["status"] in ("accepted", "sending", "done")
    listed = local.api("GET", f"/v1/batches/{batch['id']}/messages", key=fresh)
    assert listed.status == 200, listed.body
    assert len(listed.body["items"]) <= 3

    assert local.api("GET", f"/v1/batches/{batch['id']}").status == 404  # the first tenant's key
    assert local.api("DELETE", f"/v1/batches/{batch['id']}").status == 404
    cancelled = local.api("DELETE", f"/v1/batches/{batch['id']}", key=fresh)
    assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
    again = local.api("DELETE", f"/v1/batches/{batch['id']}", key=fresh)
    assert (again.status, again.body["status"]) == (200, "cancelled")


def test_a_batch_with_every_recipient_refused_is_a_422(local: LocalStack, fresh: str) -> None:
    answer = local.api("POST", "/v1/batches", {"to": ["nope", "+1"], "text": "Hi"}, key=fresh)

    assert answer.status == 422, answer.body
    assert answer.body["type"] == "/problems/all-recipients-refused"
    assert [r["type"] for r in answer.body["refused"]] == ["malformed", "malformed"]
