import pytest

from sinch_gateway.errors import Unauthenticated
from sinch_gateway.webhook_auth import signature, verify_signature

# Published test vector of Sinch's SDKs (secret, nonce, timestamp, body -> signature).
VECTOR_SECRET = "foo_secret1234"
VECTOR_NONCE = "01FJA8B4A7BM43YGWSG9GBV067"
VECTOR_TIMESTAMP = "1634579353"
VECTOR_BODY = (
    '{"app_id":"01EB37HMH1M6SV18BSNS3G135H","accepted_time":"2020-11-17T15:09:11.659Z",'
    '"project_id":"c36f3d3d-1513-2edd-ae42-11995557ff61",'
    '"message_delivery_report":{"message_id":"01EQBC1A3BEK731GY4YXEN0C2R",'
    '"conversation_id":"01EPYATA64TMNZ1FV02JKF12JF","status":"QUEUED_ON_CHANNEL",'
    '"contact_id":"01EXA07N79THJ20WSN6AS30TMW"}}'
)
VECTOR_SIGNATURE = "Yc+3R1pIS78xLASybulhs8BsSo9BPB3Pr92QCUoczfk="


def headers(
    sig: str = VECTOR_SIGNATURE, nonce: str = VECTOR_NONCE, timestamp: str = VECTOR_TIMESTAMP
) -> dict[str, str]:
    return {
        "X-Sinch-Webhook-Signature": sig,
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": timestamp,
        "x-sinch-webhook-signature-algorithm": "HmacSHA256",
    }


def test_signature_matches_sinchs_test_vector() -> None:
    assert signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_NONCE, VECTOR_TIMESTAMP) == VECTOR_SIGNATURE


def test_a_fresh_valid_signature_passes() -> None:
    verify_signature(VECTOR_SECRET, VECTOR_BODY, headers(), now=1634579353 + 10, tolerance_s=300)


@pytest.mark.parametrize(
    ("body", "hdrs", "now", "why"),
    [
        (VECTOR_BODY + " ", headers(), 1634579353, "does not match"),
        (VECTOR_BODY, headers(sig="AAAA"), 1634579353, "does not match"),
        (VECTOR_BODY, headers(nonce="other"), 1634579353, "does not match"),
        (VECTOR_BODY, headers(), 1634579353 + 301, "window"),
        (VECTOR_BODY, headers(), 1634579353 - 301, "window"),
        (VECTOR_BODY, headers(timestamp="soon"), 1634579353, "not a number"),
        (VECTOR_BODY, {}, 1634579353, "not signed"),
    ],
)
def test_tampered_stale_or_unsigned_callbacks_are_refused(
    body: str, hdrs: dict[str, str], now: float, why: str
) -> None:
    with pytest.raises(Unauthenticated, match=why):
        verify_signature(VECTOR_SECRET, body, hdrs, now=now, tolerance_s=300)


def test_another_secret_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        verify_signature("not-the-secret", VECTOR_BODY, headers(), now=1634579353, tolerance_s=300)
