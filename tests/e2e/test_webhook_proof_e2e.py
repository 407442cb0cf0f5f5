"""The proof on a Sinch webhook call as API Gateway hands it to the webhook, through the local stack:
header names in any case are read, and of a header sent twice the last value counts (API Gateway's
single-value map keeps a repeated header's last), so a junk copy after the real signature is a 401
that writes nothing."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import uuid
from typing import Any

from devstack import aws
from sinch_gateway.domain.webhook_auth import signature
from tests.e2e.conftest import LocalStack
from tests.e2e.test_inbound_e2e import mo_from, wait_listed

# No other test texts these: their opt-outs are this file's.
SHOUTING_HANDSET = "+12025550189"
REPEATING_HANDSET = "+12025550190"
INBOUND = "/v1/webhooks/sinch/inbound"


def signed(local: LocalStack, mo: dict[str, Any]) -> tuple[bytes, str, str, str]:
    """The MO's body, and the signature, nonce and timestamp Sinch would send with it."""
    raw = json.dumps(mo)
    secrets = aws.client("secretsmanager", local.config["aws_endpoint_url"], local.config["region"])
    secret = json.loads(secrets.get_secret_value(SecretId=local.config["webhook_secret_id"])["SecretString"])
    nonce, at = uuid.uuid4().hex, str(int(time.time()))
    return raw.encode(), signature(secret["webhook_secret"], raw, nonce, at), nonce, at


def post(local: LocalStack, path: str, body: bytes, headers: list[tuple[str, str]]) -> int:
    """POST with `headers` sent as given: names as written, a repeated name sent twice."""
    url = urllib.parse.urlsplit(local.api_url + path)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=15)
    try:
        connection.putrequest("POST", url.path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders(body)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_stop_signed_in_headers_named_in_any_case_is_taken(local: LocalStack) -> None:
    first = local.api("POST", "/v1/messages", {"to": SHOUTING_HANDSET, "text": "Your parcel is on its way"})
    assert first.status == 202, first.body
    mo = mo_from(SHOUTING_HANDSET, body="STOP", client_reference=first.body["id"])
    raw, given, nonce, at = signed(local, mo)
    headers = [
        ("X-Sinch-Webhook-Signature", given),
        ("X-SINCH-WEBHOOK-SIGNATURE-NONCE", nonce),
        ("x-Sinch-Webhook-Signature-Timestamp", at),
    ]

    assert post(local, INBOUND, raw, headers) == 200

    assert wait_listed(local, mo["id"])["action"] == "opted-out"
    refused = local.api("POST", "/v1/messages", {"to": SHOUTING_HANDSET, "text": "One more thing"})
    assert (refused.status, refused.body["type"]) == (422, "/problems/recipient-opted-out")


def test_of_a_signature_header_sent_twice_the_last_counts(local: LocalStack) -> None:
    mo = mo_from(REPEATING_HANDSET, body="STOP")
    raw, given, nonce, at = signed(local, mo)
    fresh = [("x-sinch-webhook-signature-nonce", nonce), ("x-sinch-webhook-signature-timestamp", at)]

    junk_last = [("x-sinch-webhook-signature", given), *fresh, ("x-sinch-webhook-signature", "AAAA")]
    assert post(local, INBOUND, raw, junk_last) == 401
    still = local.api("POST", "/v1/messages", {"to": REPEATING_HANDSET, "text": "Still reachable"})
    assert still.status == 202, "the refused STOP opted nobody out"

    real_last = [("x-sinch-webhook-signature", "AAAA"), *fresh, ("x-sinch-webhook-signature", given)]
    assert post(local, INBOUND, raw, real_last) == 200
    refused = local.api("POST", "/v1/messages", {"to": REPEATING_HANDSET, "text": "One more thing"})
    assert (refused.status, refused.body["type"]) == (422, "/problems/recipient-opted-out")
