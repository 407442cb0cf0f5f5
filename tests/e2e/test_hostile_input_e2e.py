"""Hostile and mistaken input over HTTP through the local stack: a clear 4xx, nothing sent, never a 5xx."""

import base64
import json
import time

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
    assert elapsed < 12, f"held for {elapsed:.1f} s: the preflight's deadline is 10 s"
    assert local.sinch_requests() == []
