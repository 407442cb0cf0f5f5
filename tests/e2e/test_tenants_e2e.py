"""Two tenants on one local stack, over HTTP: isolation, per-tenant policy, and the queue."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack import aws
from gateway_admin import tenants as admin
from sinch_gateway.domain.tenants import TenantPolicy
from tests.e2e.conftest import LocalStack

SMS = {"to": "+12025550143", "text": "Two tenants, one gateway"}
AU = "+61491570156"


def tenant(local: LocalStack, name: str) -> dict[str, str]:
    return next(t for t in local.config["tenants"] if t["name"] == name)


@pytest.fixture
def globex(local: LocalStack) -> Iterator[dict[str, str]]:
    """The second tenant; whatever policy a test gives it is undone afterwards."""
    yield tenant(local, "globex")
    admin.set_policy(
        admin.local_target(local.config),
        tenant(local, "globex")["api_key_id"],
        allowed_countries=None,
        mms_allowed=True,
    )


def test_the_stack_has_two_tenants_each_with_its_own_key(local: LocalStack) -> None:
    acme, globex = local.config["tenants"]
    assert (acme["name"], globex["name"]) == ("acme", "globex")
    assert local.config["api_key"] == acme["api_key"]
    for t in (acme, globex):
        assert local.api("GET", "/v1/messages?clientReference=x", key=t["api_key"]).status == 200


def test_a_tenant_never_sees_or_cancels_another_tenants_message(
    local: LocalStack, globex: dict[str, str]
) -> None:
    reference = f"iso-{time.time()}"
    sent = local.api("POST", "/v1/messages", {**SMS, "clientReference": reference, "sendAt": in_an_hour()})
    assert sent.status == 202, sent.body
    message_id = sent.body["id"]
    other = globex["api_key"]

    read = local.api("GET", f"/v1/messages/{message_id}", key=other)
    unknown = local.api("GET", "/v1/messages/5b0b7a4e-2a57-4f4e-9d0c-1f1e0c2d3b4a", key=other)
    assert read.status == unknown.status == 404
    assert read.body["type"] == unknown.body["type"] and read.body["title"] == unknown.body["title"]

    assert local.api("DELETE", f"/v1/messages/{message_id}", key=other).status == 404
    assert local.api("GET", f"/v1/messages/{message_id}").body["status"] == "submitted", "still scheduled"

    listed = local.api("GET", f"/v1/messages?clientReference={reference}", key=other)
    assert (listed.status, listed.body["items"]) == (200, [])
    mine = local.api("GET", f"/v1/messages?clientReference={reference}")
    assert [m["id"] for m in mine.body["items"]] == [message_id]
    assert local.api("DELETE", f"/v1/messages/{message_id}").body["status"] == "cancelled"


def in_an_hour() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))


def test_a_tenants_country_policy_refuses_with_the_country_and_sends_nothing(
    local: LocalStack, globex: dict[str, str]
) -> None:
    admin.set_policy(
        admin.local_target(local.config), globex["api_key_id"], allowed_countries=frozenset({"US"})
    )

    answer = wait_for_status(local, {**SMS, "to": AU}, globex["api_key"], 422)

    assert answer.body["type"] == "/problems/destination-not-allowed"
    assert "Australia (AU)" in answer.body["errors"][0]["message"]
    local.sim("POST", "/_sim/reset")
    assert local.api("POST", "/v1/messages", {**SMS, "to": AU}, key=globex["api_key"]).status == 422
    assert local.sinch_requests() == [], "nothing reached Sinch"
    other = local.api("POST", "/v1/messages", {**SMS, "to": AU})
    assert other.status == 202, "another tenant's policy is not ours"


def wait_for_status(local: LocalStack, body: dict[str, Any], key: str, status: int) -> Any:
    """Functions read a changed policy within their cache time (1 s in the e2e stack)."""
    deadline = time.monotonic() + 15
    while True:
        answer = local.api("POST", "/v1/messages", body, key=key, headers={"X-Dry-Run": "true"})
        if answer.status == status or time.monotonic() > deadline:
            assert answer.status == status, answer.body
            return answer
        time.sleep(0.2)


def test_a_request_published_to_the_queue_belongs_to_the_tenant_it_names(local: LocalStack) -> None:
    acme, globex = local.config["tenants"]
    reference = f"queued-{time.time()}"
    sqs = aws.publisher(local.config, tenant=1)  # globex's publisher
    sqs.send_message(
        QueueUrl=local.config["send_queue_url"],
        MessageBody=json.dumps({**SMS, "clientReference": reference}),
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": globex["api_key_id"]}},
    )

    deadline = time.monotonic() + 30
    while not (
        found := local.api("GET", f"/v1/messages?clientReference={reference}", key=globex["api_key"]).body[
            "items"
        ]
    ):
        assert time.monotonic() < deadline, "the queued request never became globex's message"
        time.sleep(0.2)
    assert local.api("GET", f"/v1/messages/{found[0]['id']}", key=acme["api_key"]).status == 404


def test_a_tenant_created_while_the_stack_runs_can_call_at_once(local: LocalStack) -> None:
    created = admin.create_tenant(admin.local_target(local.config), f"initech-{time.time()}", TenantPolicy())

    answer = local.api("POST", "/v1/messages", SMS, key=created.api_key)

    assert answer.status == 202, answer.body
    assert local.api("GET", f"/v1/messages/{answer.body['id']}").status == 404, "not acme's"
    assert (
        local.api("GET", "/v1/messages?clientReference=x", key="not-a-key-" + created.api_key).status == 403
    )
