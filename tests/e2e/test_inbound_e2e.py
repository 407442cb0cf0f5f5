"""Issue 12's "done means" for inbound SMS, through the whole local stack: a STOP the simulator
delivers (signed as Sinch signs) blocks the next send to that number with a 422 and nothing
reaching Sinch, a START lets the next one through, and GET /v1/inbound lists them to the tenant
whose message they answer only."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from devstack import aws
from devstack.stack import FROM_NUMBER
from sinch_gateway.domain.webhook_auth import signature
from tests.e2e.conftest import LocalStack, http

HANDSET = "+12025550181"  # no other end-to-end test texts it: its opt-outs are this file's
MMS_HANDSET = "+12025550184"
EDGE_HANDSET = "+12025550187"


def batches_to(local: LocalStack, number: str) -> list[dict[str, Any]]:
    return [r for r in local.sinch_requests() if r["method"] == "POST" and number in r["body"].get("to", [])]


def texted(local: LocalStack, body: str) -> dict[str, Any]:
    answer = local.sim("POST", "/_sim/inbound", {"from": HANDSET, "to": FROM_NUMBER, "body": body})
    assert answer["type"] == "mo_text", answer
    return dict(answer)


def wait_listed(
    local: LocalStack, inbound_id: str, key: str = "valid", timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        listed = local.api("GET", "/v1/inbound?limit=100", key=key)
        assert listed.status == 200, listed.body
        found = [m for m in listed.body["items"] if m["id"] == inbound_id]
        if found:
            return dict(found[0])
        assert time.monotonic() < deadline, f"inbound {inbound_id} never listed"
        time.sleep(0.2)


def test_stop_blocks_the_next_send_with_422_and_start_lets_it_through(local: LocalStack) -> None:
    acme, globex = local.config["tenants"]
    sms = {"to": HANDSET, "text": "Your parcel is out for delivery"}
    first = local.api("POST", "/v1/messages", sms)
    assert first.status == 202, first.body

    stop = texted(local, "stop ")
    listed = wait_listed(local, stop["id"])
    assert (listed["action"], listed["messageId"], listed["from"]) == ("opted-out", first.body["id"], HANDSET)
    callbacks = [
        c for c in local.sim("GET", "/_sim/callbacks") if c["url"].endswith("/v1/webhooks/sinch/inbound")
    ]
    assert callbacks and callbacks[-1]["status"] == 200
    assert "x-sinch-webhook-signature" in callbacks[-1]["headers"], "signed as Sinch signs"

    sent_before = len(batches_to(local, HANDSET))
    for key in (acme["api_key"], globex["api_key"]):  # the opt-out is the sender number's
        refused = local.api("POST", "/v1/messages", sms, key=key)
        assert refused.status == 422, refused.body
        assert refused.body["type"] == "/problems/recipient-opted-out"
    assert len(batches_to(local, HANDSET)) == sent_before, "nothing reached Sinch"

    start = texted(local, "START")
    assert wait_listed(local, start["id"])["action"] == "opted-in"
    again = local.api("POST", "/v1/messages", sms)
    assert again.status == 202, again.body
    assert len(batches_to(local, HANDSET)) == sent_before + 1

    theirs = local.api("GET", "/v1/inbound?limit=100", key=globex["api_key"])
    assert theirs.status == 200
    assert {stop["id"], start["id"]}.isdisjoint(m["id"] for m in theirs.body["items"])


def test_the_inbound_webhook_refuses_an_unsigned_stop(local: LocalStack) -> None:
    raw = b'{"type": "mo_text", "id": "X1", "from": "+12025550182", "to": "12025550100", "body": "STOP",'
    raw += b' "received_at": "2026-11-23T19:00:00Z"}'

    answer = local.api("POST", "/v1/webhooks/sinch/inbound", raw=raw, key=None)

    assert answer.status == 401
    assert local.api("POST", "/v1/messages", {"to": "+12025550182", "text": "still reachable"}).status == 202


def test_a_stop_sent_as_an_mms_blocks_the_next_send_too(local: LocalStack) -> None:
    handset = "+12025550183"  # no other end-to-end test texts it
    photo = f"{local.sinch_url}/_sim/media/sample.jpg"
    first = local.api("POST", "/v1/messages", {"to": handset, "text": "Your parcel is out for delivery"})
    assert first.status == 202, first.body

    request = {"from": handset, "to": FROM_NUMBER, "body": "STOP", "media": [photo]}
    mms = local.sim("POST", "/_sim/inbound", request)
    assert mms["type"] == "mo_media", mms

    listed = wait_listed(local, mms["id"])
    assert (listed["action"], listed["body"], listed["messageId"]) == ("opted-out", "STOP", first.body["id"])
    assert listed["media"] == [{"url": photo, "contentType": "image/jpeg", "status": "Uploaded"}]
    refused = local.api("POST", "/v1/messages", {"to": handset, "text": "One more thing"})
    assert (refused.status, refused.body["type"]) == (422, "/problems/recipient-opted-out")


def post_signed(local: LocalStack, mo: dict[str, Any]) -> int:
    """POST an MO to the inbound webhook, signed with the stack's webhook secret as Sinch signs."""
    raw = json.dumps(mo, ensure_ascii=False)
    secrets = aws.client("secretsmanager", local.config["aws_endpoint_url"], local.config["region"])
    secret = json.loads(secrets.get_secret_value(SecretId=local.config["webhook_secret_id"])["SecretString"])
    nonce, at = uuid.uuid4().hex, str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-sinch-webhook-signature": signature(secret["webhook_secret"], raw, nonce, at),
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": at,
    }
    return http("POST", f"{local.api_url}/v1/webhooks/sinch/inbound", raw.encode(), headers).status


def mo_from(handset: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "mo_text",
        "id": uuid.uuid4().hex[:26].upper(),
        "from": handset.removeprefix("+"),
        "to": FROM_NUMBER.removeprefix("+"),
        "received_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        **fields,
    }


def test_the_largest_signed_inbound_mms_is_taken_with_a_200_and_listed(local: LocalStack) -> None:
    # Every field at the webhook parser's limit in four-byte characters: 560 KB, past DynamoDB's
    # 400 KB per item. It was a 500 (and Sinch retries a 5xx); now what is stored is bounded.
    first = local.api("POST", "/v1/messages", {"to": MMS_HANDSET, "text": "Send us a photo"})
    assert first.status == 202, first.body
    wide = "\U0001f600"
    files = {"url": "https://mms.example/" + wide * 2028, "content_type": wide * 255, "status": wide * 64}
    body = {"subject": wide * 10_000, "message": "Here it is", "media": [files] * 50}
    mo = mo_from(MMS_HANDSET, type="mo_media", client_reference=first.body["id"], body=body)

    assert post_signed(local, mo) == 200

    listed = wait_listed(local, mo["id"])
    assert listed["subject"] == wide * 10_000 and listed["messageId"] == first.body["id"]
    assert len(listed["media"]) + listed["mediaOmitted"] == 50 and listed["mediaOmitted"] > 0


def test_a_stop_at_the_calendars_edge_is_taken(local: LocalStack) -> None:
    # Past year 9999 in UTC: converting it for the opt-out's order was a 500, which Sinch retries.
    assert (
        post_signed(local, mo_from(EDGE_HANDSET, body="STOP", received_at="9999-12-31T23:59:59-23:59")) == 200
    )
    refused = local.api("POST", "/v1/messages", {"to": EDGE_HANDSET, "text": "Still there?"})
    assert (refused.status, refused.body["type"]) == (422, "/problems/recipient-opted-out")
