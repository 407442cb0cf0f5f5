"""The proof a webhook call offers, read from its headers at the edge: names in any case, a part
not sent told apart from one sent empty, and nothing but the proof's headers read."""

from sinch_gateway.api.webhook_proof import offered_proof
from sinch_gateway.domain.webhook_auth import WebhookProof


def test_each_part_is_read_from_its_header_whatever_the_case_of_its_name() -> None:
    headers = {
        "X-Sinch-Webhook-Signature": "c2lnbmF0dXJl",
        "X-SINCH-WEBHOOK-SIGNATURE-NONCE": "01FJA8B4A7BM43YGWSG9GBV067",
        "x-sinch-webhook-signature-timestamp": "1634579353",
        "AUTHORIZATION": "Basic dXNlcjpwdw==",
        "x-sinch-webhook-signature-algorithm": "HmacSHA256",
        "Content-Type": "application/json",
    }

    assert offered_proof(headers) == WebhookProof(
        signature="c2lnbmF0dXJl",
        nonce="01FJA8B4A7BM43YGWSG9GBV067",
        timestamp="1634579353",
        authorization="Basic dXNlcjpwdw==",
    )


def test_a_header_not_sent_is_none_and_one_sent_empty_stays_empty() -> None:
    assert offered_proof({}) == WebhookProof()
    assert offered_proof({"x-sinch-webhook-signature": "", "Authorization": ""}) == WebhookProof(
        signature="", authorization=""
    )


def test_of_two_spellings_of_one_header_the_later_counts() -> None:
    headers = {"authorization": "Basic Zmlyc3Q6MQ==", "Authorization": "Basic bGF0ZXI6Mg=="}

    assert offered_proof(headers).authorization == "Basic bGF0ZXI6Mg=="
