import pytest

from sinch_gateway.errors import Unauthenticated
from sinch_gateway.webhook_auth import signature, verify_signature
from tests.sinch_vectors import (
    VECTOR_BODY,
    VECTOR_NONCE,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
)


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
