"""GET /v1/messages over HTTP through the local stack: the stack's MessagesTable has the byTenant
index from template.yaml, a tenant's messages come newest first in pages, filtered, and another
tenant's never, whatever nextToken says."""

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from devstack import aws
from gateway_admin import tenants as admin
from sinch_gateway.domain.tenants import TenantPolicy
from tests.e2e.conftest import LocalStack

FIRST, SECOND = "+12025550143", "+12025550144"


@pytest.fixture
def fresh(local: LocalStack) -> Iterator[str]:
    """A tenant of the test's own (the stack's tenants list every e2e test's messages), deleted
    afterwards; its API key."""
    target = admin.local_target(local.config)
    created = admin.create_tenant(target, f"lister-{time.time()}", TenantPolicy())
    yield created.api_key
    admin.delete_tenant(target, created.tenant.tenant_id)


def listing(local: LocalStack, key: str, **query: str) -> tuple[int, Any]:
    answer = local.api("GET", "/v1/messages?" + urlencode(query), key=key)
    return answer.status, answer.body


def every_item(local: LocalStack, key: str, **query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    for _ in range(50):
        status, page = listing(local, key, **query, **({"nextToken": token} if token else {}))
        assert status == 200, page
        items += page["items"]
        if not (token := page["nextToken"]):
            return items
    raise AssertionError("the listing never ended")


def test_the_stacks_table_has_the_index_the_listing_reads(local: LocalStack) -> None:
    ddb = aws.client("dynamodb", local.config["aws_endpoint_url"], local.config["region"])
    table = ddb.describe_table(TableName=local.config["messages_table"])["Table"]
    [index] = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "byTenant"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["messageTenant", "createdAt"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"


def test_a_tenant_lists_its_own_messages_filtered_and_paged(local: LocalStack, fresh: str) -> None:
    sent = []
    for to in (FIRST, SECOND, FIRST, SECOND, FIRST):
        answer = local.api("POST", "/v1/messages", {"to": to, "text": "Listed"}, key=fresh)
        assert answer.status == 202, answer.body
        sent.append(answer.body)
    newest_first = [m["id"] for m in reversed(sent)]
    # A status filter needs a status that holds: each is delivered once its report came.
    deadline = time.monotonic() + 60
    for message in sent:
        while local.api("GET", f"/v1/messages/{message['id']}", key=fresh).body["status"] != "delivered":
            assert time.monotonic() < deadline, f"{message['id']} was never delivered"
            time.sleep(0.2)

    assert [m["id"] for m in every_item(local, fresh, limit="2")] == newest_first
    # urlencode writes the + as %2B, as a client must.
    assert [m["id"] for m in every_item(local, fresh, to=SECOND, limit="2")] == [sent[3]["id"], sent[1]["id"]]
    window = {"since": sent[1]["createdAt"], "until": sent[4]["createdAt"]}
    assert [m["id"] for m in every_item(local, fresh, **window)] == newest_first[1:4]
    assert [m["id"] for m in every_item(local, fresh, **window, to=FIRST, status="delivered")] == [
        sent[2]["id"]
    ]
    assert every_item(local, fresh, **window, status="failed") == []
    status, bad = listing(local, fresh, since="2026-12-01T10:00:00")
    assert (status, [e["field"] for e in bad["errors"]]) == (422, ["since"])

    # Nobody else sees them: not the stack's own tenant, not with a token of this listing, nor
    # with one forged to name this tenant's key.
    assert not {m["id"] for m in every_item(local, "valid", limit="100")} & set(newest_first)
    _, page = listing(local, fresh, limit="1")
    tenant_id = json.loads(base64.urlsafe_b64decode(page["nextToken"]))["messageTenant"]["S"]
    forged = {
        "id": {"S": sent[2]["id"]},
        "messageTenant": {"S": tenant_id},
        "createdAt": {"S": sent[2]["createdAt"]},
    }
    for token in (page["nextToken"], base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()):
        status, body = listing(local, "valid", nextToken=token)
        assert (status, body["type"]) == (400, "/problems/invalid-token"), body
