"""Proven identity through the local stack: SendQueue takes a request for a tenant only from that
tenant's registered publishers (SQS's SenderId) and a retry only from the gateway's functions;
fromMask only carries a sender id the tenant's policy allows; a tenant's API key and callback
secret are rotated, and the tenant deleted, with `python -m ops.tenants --local`, as an operator
would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack import aws
from devstack.callback_receiver import CallbackReceiver
from tests.e2e.conftest import FINAL, ROOT, LocalStack
from tests.e2e.test_status_callbacks_e2e import docs_sample

SMS = {"to": "+12025550143", "text": "Who sent this?"}


def ops_tenants(local: LocalStack, *args: str) -> Any:
    """`python -m ops.tenants --local ...` against the test's stack; its JSON."""
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "ops.tenants", "--local", *args],
        cwd=ROOT,
        env={**os.environ, "DEVSTACK_STATE_DIR": str(local.state_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def tenant(local: LocalStack) -> Iterator[dict[str, Any]]:
    """A tenant of this test's own, made and deleted the operator's way."""
    created = ops_tenants(local, "create", "--name", f"initech-{uuid.uuid4().hex[:6]}", "--all-countries")
    yield created
    ops_tenants(local, "delete", created["tenantId"], "--yes")


def until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def listed(local: LocalStack, reference: str, key: str) -> list[dict[str, Any]]:
    answer = local.api("GET", f"/v1/messages?clientReference={reference}", key=key)
    assert answer.status == 200, answer.body
    return list(answer.body["items"])


def publish(sqs: Any, local: LocalStack, body: dict[str, Any], tenant_id: str | None) -> None:
    attributes = {"tenant": {"DataType": "String", "StringValue": tenant_id}} if tenant_id else {}
    sqs.send_message(
        QueueUrl=local.config["send_queue_url"], MessageBody=json.dumps(body), MessageAttributes=attributes
    )


def parked(local: LocalStack, marker: str, timeout: float = 30) -> str:
    """The reason of the dead letter whose body holds `marker`, taken off the DLQ (others are left)."""
    sqs = aws.client("sqs", local.config["aws_endpoint_url"], local.config["region"])
    queue = local.config["dead_letter_queue_url"]

    def find() -> str | None:
        got = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=1
        )
        for message in got.get("Messages", []):
            if marker in message["Body"]:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                return str(message["MessageAttributes"]["reason"]["StringValue"])
        return None

    return str(until(find, f"nothing with {marker} reached the dead-letter queue", timeout))


def test_a_queued_request_is_taken_only_from_a_publisher_of_the_tenant_it_names(local: LocalStack) -> None:
    acme, globex = local.config["tenants"]
    reference = f"proof-{uuid.uuid4().hex[:8]}"
    forged = {**SMS, "clientReference": f"{reference}-forged", "statusCallbackUrl": "http://127.0.0.1:9/cb"}

    publish(aws.publisher(local.config, 0), local, forged, globex["api_key_id"])  # acme's, naming globex
    reason = parked(local, forged["clientReference"])

    assert reason.startswith("tenant_not_authorized: publisher 'AIDA")
    assert reason.endswith(f"is not a registered publisher of tenant '{globex['api_key_id']}'")
    assert listed(local, forged["clientReference"], globex["api_key"]) == [], "recorded nowhere"
    assert listed(local, forged["clientReference"], acme["api_key"]) == []

    # The stack's own tooling (any key moto did not issue) is nobody's publisher either.
    tooling = {**SMS, "clientReference": f"{reference}-tooling"}
    publish(
        aws.client("sqs", local.config["aws_endpoint_url"], local.config["region"]),
        local,
        tooling,
        acme["api_key_id"],
    )
    assert parked(local, tooling["clientReference"]).startswith("tenant_not_authorized: ")

    # globex's own publisher is taken; and acme's, once the operator registers it for globex.
    own = {**SMS, "clientReference": f"{reference}-own"}
    publish(aws.publisher(local.config, 1), local, own, globex["api_key_id"])
    until(lambda: listed(local, own["clientReference"], globex["api_key"]), "globex's request was not taken")
    acme_publisher = re.search(r"publisher '([A-Z0-9]+)'", reason).group(1)  # type: ignore[union-attr]
    ops_tenants(local, "publishers", "add", globex["api_key_id"], acme_publisher)
    try:
        registered = {**SMS, "clientReference": f"{reference}-registered"}
        until(lambda: _taken_after_publishing(local, registered, globex), "a registered publisher's request")
    finally:
        shown = ops_tenants(local, "publishers", "remove", globex["api_key_id"], acme_publisher)
    assert acme_publisher not in shown["publishers"]


def _taken_after_publishing(local: LocalStack, body: dict[str, Any], globex: dict[str, Any]) -> bool:
    """Publish `body` as acme's publisher naming globex: True once it became globex's message
    (functions read a changed policy within their cache time, 1 s here)."""
    body = {**body, "clientReference": f"{body['clientReference']}-{uuid.uuid4().hex[:4]}"}
    publish(aws.publisher(local.config, 0), local, body, globex["api_key_id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if listed(local, body["clientReference"], globex["api_key"]):
            return True
        time.sleep(0.2)
    parked(local, body["clientReference"], timeout=5)
    return False


def test_the_gateways_own_retries_are_taken_and_a_publishers_retry_is_parked(local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "batches", "status": 503, "times": 1}]})
    sent = local.api("POST", "/v1/messages", SMS)
    assert (sent.status, sent.body["status"]) == (202, "retrying"), sent.body

    assert local.wait_final(sent.body["id"])["status"] == "delivered", "QueueFunction's retry was taken"

    held = local.api("POST", "/v1/messages", {**SMS, "sendAt": in_an_hour()})  # waits at Sinch
    attempts = len(local.sinch_requests())
    marker = held.body["id"]
    publish(aws.publisher(local.config, 0), local, {"kind": "retry", "messageId": marker}, None)

    reason = parked(local, marker)
    assert reason.startswith("retry_not_authorized: only the gateway's functions retry (publisher 'AIDA")
    assert len(local.sinch_requests()) == attempts, "nothing attempted"
    assert local.api("DELETE", f"/v1/messages/{marker}").status == 200


def in_an_hour() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))


def slides(from_mask: str) -> dict[str, Any]:
    return {
        "to": "+12025550143",
        "subject": "Sale",
        "fallbackText": "Our sale is on",
        "slides": [{"text": "Half price"}],
        "fromMask": from_mask,
    }


def test_a_from_mask_carries_only_a_sender_id_the_tenants_policy_allows(
    local: LocalStack, tenant: dict[str, Any]
) -> None:
    refused = local.api("POST", "/v1/messages", slides("Initech"), key=tenant["apiKey"])

    assert refused.status == 422, refused.body
    assert refused.body["type"] == "/problems/sender-not-allowed"
    assert [e["field"] for e in refused.body["errors"]] == ["fromMask"]
    assert [r for r in local.sim("GET", "/_sim/requests") if r["path"].startswith("/ep/v2")] == []

    changed = ops_tenants(local, "policy", tenant["tenantId"], "--senders", "Initech")
    assert changed["senders"] == ["Initech"]

    def sent() -> Any:
        answer = local.api("POST", "/v1/messages", slides("Initech"), key=tenant["apiKey"])
        return answer if answer.status == 202 else None

    until(sent, "an allowed fromMask was still refused")
    mms = [r["body"] for r in local.sim("GET", "/_sim/requests") if r["path"].startswith("/ep/v2")]
    assert [b["from-mask"] for b in mms] == ["Initech"]
    assert local.api("POST", "/v1/messages", slides("initech"), key=tenant["apiKey"]).status == 422


def test_a_second_key_acts_as_the_tenant_until_the_first_is_revoked(
    local: LocalStack, tenant: dict[str, Any]
) -> None:
    first, reference = tenant["apiKey"], f"rotate-{uuid.uuid4().hex[:8]}"
    body = {**SMS, "clientReference": reference}
    idempotent = {"Idempotency-Key": f"key-{reference}"}
    sent = local.api("POST", "/v1/messages", body, key=first, headers=idempotent)
    assert sent.status == 202, sent.body

    second = ops_tenants(local, "rotate-key", tenant["tenantId"])

    new = second["apiKey"]
    assert second["apiKeyIds"] == [tenant["tenantId"], second["apiKeyId"]]
    until(lambda: local.api("GET", f"/v1/messages/{sent.body['id']}", key=new).status == 200, "new key")
    again = local.api("POST", "/v1/messages", body, key=new, headers=idempotent)
    assert again.body["id"] == sent.body["id"], "the same idempotency scope: not sent twice"
    assert [m["id"] for m in listed(local, reference, new)] == [sent.body["id"]]

    revoked = ops_tenants(local, "revoke-key", tenant["tenantId"], tenant["tenantId"])

    assert revoked["apiKeyIds"] == [second["apiKeyId"]]
    until(lambda: local.api("GET", f"/v1/messages/{sent.body['id']}", key=first).status == 403, "old key")
    assert local.api("GET", f"/v1/messages/{sent.body['id']}", key=new).status == 200
    assert local.api("GET", f"/v1/messages/{sent.body['id']}").status == 404, "still not acme's"
    shown = ops_tenants(local, "show", tenant["tenantId"], "--reveal")
    tenant["apiKey"] = new  # for the fixture's own use
    assert (shown["apiKeyIds"], shown["apiKey"]) == ([second["apiKeyId"]], new)


def test_a_rotated_callback_secret_signs_beside_the_new_one_until_its_grace_ends(
    local: LocalStack, tenant: dict[str, Any]
) -> None:
    verify, old = docs_sample(), tenant["callbackSecret"]
    rotated = ops_tenants(local, "rotate-secret", tenant["tenantId"], "--grace-hours", "1")
    new = rotated["callbackSecret"]
    assert new != old and rotated["previousCallbackSecretUntil"]

    with CallbackReceiver() as receiver:

        def signed_by_both() -> bool:
            # CallbackFunction reads the tenant again within its cache time (1 s here).
            got = callbacks_of(local, receiver, tenant["apiKey"])
            return all(r.signature.count("v1=") == 2 for r in got)

        until(signed_by_both, "callbacks were not signed with both secrets", timeout=60)
        for received in receiver.received[-2:]:
            assert verify(old, received.signature, received.body), "a receiver still on the old secret"
            assert verify(new, received.signature, received.body), "a receiver on the new one"

        ops_tenants(local, "rotate-secret", tenant["tenantId"], "--grace-hours", "0")
        newest = ops_tenants(local, "show", tenant["tenantId"], "--reveal")["callbackSecret"]

        def signed_by_the_newest_only() -> bool:
            got = callbacks_of(local, receiver, tenant["apiKey"])
            return all(verify(newest, r.signature, r.body) for r in got)

        until(
            signed_by_the_newest_only, "the grace ended, yet the callbacks were not signed anew", timeout=60
        )
        last = receiver.received[-1]
        assert last.signature.count("v1=") == 1
        assert not verify(new, last.signature, last.body) and not verify(old, last.signature, last.body)


def callbacks_of(local: LocalStack, receiver: CallbackReceiver, key: str) -> list[Any]:
    """Send an SMS with a callback URL and wait for its final callback; its callbacks as received."""
    sent = local.api("POST", "/v1/messages", {**SMS, "statusCallbackUrl": receiver.url}, key=key)
    assert sent.status == 202, sent.body
    message_id = sent.body["id"]
    receiver.wait_for(
        lambda got: any(c["id"] == message_id and c["status"] in FINAL for c in got), timeout=30
    )
    return [r for r in receiver.received if r.callback["id"] == message_id]


def test_a_deleted_tenants_keys_are_refused_and_its_messages_seen_by_nobody(local: LocalStack) -> None:
    created = ops_tenants(local, "create", "--name", f"gone-{uuid.uuid4().hex[:6]}", "--countries", "US")
    sent = local.api("POST", "/v1/messages", SMS, key=created["apiKey"])
    assert sent.status == 202, sent.body
    message = f"/v1/messages/{sent.body['id']}"

    deleted = ops_tenants(local, "delete", created["tenantId"], "--yes")

    assert deleted == {"deleted": created["tenantId"], "apiKeysDeleted": [created["tenantId"]]}
    until(lambda: local.api("GET", message, key=created["apiKey"]).status == 403, "its key still works")
    assert local.api("GET", message).status == 404, "kept until its TTL, seen by no other tenant"
    assert all(t["tenantId"] != created["tenantId"] for t in ops_tenants(local, "list"))
