"""Hostile and mistaken input over HTTP through the local stack: a clear 4xx, nothing sent, never a 5xx."""

import base64
import json
import time

from devstack import aws
from tests.e2e.conftest import LocalStack, http

SMS = {"to": "+12025550143", "text": "hello"}


def test_a_recipient_with_letters_is_refused_not_dialled_as_keypad_digits(local: LocalStack) -> None:
    full_width = "+" + "".join(chr(0xFF10 + int(d)) for d in "12025550143")
    for to in ("+1202555abcd", "+1 202 555 0143 ext. 12", full_width, "tel:+12025550143"):
        answer = local.api("POST", "/v1/messages", {**SMS, "to": to})
        assert answer.status == 422, (to, answer.body)
        assert answer.body["errors"][0]["field"] == "to"
    assert local.sinch_requests() == []


def test_text_that_shows_nothing_is_refused(local: LocalStack) -> None:
    for text in ("   ", "\u200b\u200b", "\t\n"):
        answer = local.api("POST", "/v1/messages", {**SMS, "text": text})
        assert (answer.status, answer.body["errors"][0]["field"]) == (422, "text"), repr(text)
    assert local.sinch_requests() == []


def test_a_forged_next_token_is_a_400(local: LocalStack) -> None:
    forged = base64.urlsafe_b64encode(json.dumps({"clientReference": "x"}).encode()).decode()
    answer = local.api("GET", f"/v1/messages?clientReference=x&nextToken={forged}")
    assert (answer.status, answer.body["type"]) == (400, "/problems/invalid-token")


def test_a_non_ascii_webhook_signature_is_a_401(local: LocalStack) -> None:
    answer = http(
        "POST",
        f"{local.api_url}/v1/webhooks/sinch/delivery-reports",
        b"{}",
        {
            "content-type": "application/json",
            "x-sinch-webhook-signature": "\u00e9t\u00e9",
            "x-sinch-webhook-signature-nonce": "n",
            "x-sinch-webhook-signature-timestamp": str(int(time.time())),
        },
    )
    assert answer.status == 401, answer.body


def test_a_media_host_with_a_unicode_digit_length_is_a_422(local: LocalStack) -> None:
    media = f"{local.sinch_url}/_sim/media/odd-length.jpg"
    answer = local.api("POST", "/v1/messages", {**SMS, "mediaUrl": media})
    assert (answer.status, answer.body["errors"][0]["field"]) == (422, "mediaUrl"), answer.body
    assert local.sinch_requests() == []


def test_a_media_host_that_drips_is_a_422_within_the_preflights_time(local: LocalStack) -> None:
    started = time.monotonic()
    answer = local.api("POST", "/v1/messages", {**SMS, "mediaUrl": f"{local.sinch_url}/_sim/media/slow.jpg"})
    elapsed = time.monotonic() - started

    assert answer.status == 422, answer.body
    assert "could not be reached" in answer.body["errors"][0]["message"]
    assert elapsed < 8, f"held for {elapsed:.1f} s: a request's own cap is 3 s, all media share 5 s"
    assert local.sinch_requests() == []


def item_ids(local: LocalStack) -> set[str]:
    """The ids of MessagesTable's items (others' late reports may change an item, not add one)."""
    db = aws.client("dynamodb", local.config["aws_endpoint_url"], local.config["region"])
    items = db.scan(TableName=local.config["messages_table"], ConsistentRead=True)["Items"]
    return {item["id"]["S"] for item in items}


def test_an_integer_past_4300_digits_is_a_400_and_nothing_is_sent_or_kept(local: LocalStack) -> None:
    # Python refuses to convert a longer integer (sys.get_int_max_str_digits): it was a 500.
    digits = "7" * 4301
    before = item_ids(local)
    for path, raw in (
        ("/v1/messages", '{"to": "+12025550143", "text": "hi", "clientReference": ' + digits + "}"),
        ("/v1/messages", '{"to": "+12025550143", "text": "hi", "x": [{"y": -' + digits + "}]}"),
        ("/v1/mms-templates", '{"name": "n", "subject": "s", "slides": [{"text": ' + digits + "}]}"),
    ):
        answer = local.api("POST", path, raw=raw.encode(), headers={"Idempotency-Key": "digits"})
        assert (answer.status, answer.body["type"]) == (400, "/problems/invalid-json"), answer.body
        assert answer.headers["content-type"] == "application/problem+json"
        assert "more than 4300 digits" in answer.body["detail"]
    assert local.sim("GET", "/_sim/requests") == []
    assert item_ids(local) == before


def test_a_next_token_whose_sort_key_passes_1024_bytes_is_a_400(local: LocalStack) -> None:
    # 600 characters, 1,200 bytes: DynamoDB (and the local stack) refuse such a start key, a 500 here.
    tenant = local.config["api_key_id"]
    key = {
        "id": {"S": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"},
        "tenantRef": {"S": f"{tenant}#order-7"},
        "createdAt": {"S": "\u00e9" * 600},
    }
    forged = base64.urlsafe_b64encode(json.dumps(key, ensure_ascii=False).encode()).decode()
    answer = local.api("GET", f"/v1/messages?clientReference=order-7&nextToken={forged}")
    assert (answer.status, answer.body["type"]) == (400, "/problems/invalid-token"), answer.body
