import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.domain.errors import Unauthenticated
from sinch_gateway.domain.webhook_auth import authenticate, signature, verify_signature
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


@pytest.mark.parametrize(
    ("hdrs", "why"),
    [
        (headers(sig="\u00e9" * 44), "not base64"),  # compare_digest raised TypeError on these
        (headers(sig="\ud800"), "not base64"),
        (headers(sig="A" * 200), "not base64"),
        (headers(nonce="\u00fc"), "nonce"),
        (headers(nonce="\ud800"), "nonce"),
        (headers(nonce="a b"), "nonce"),
        (headers(nonce="n" * 129), "nonce"),
        (headers(timestamp="inf"), "not a number"),
        (headers(timestamp="nan"), "not a number"),
        (headers(timestamp="1e400"), "not a number"),
        (headers(timestamp="1e9"), "not a number"),
        (headers(timestamp="-1634579353"), "not a number"),
        (headers(timestamp="1_634_579_353"), "not a number"),
        (headers(timestamp="".join(chr(0x660 + int(d)) for d in VECTOR_TIMESTAMP)), "not a number"),
        (headers(timestamp=" " + VECTOR_TIMESTAMP), "not a number"),
        (headers(timestamp="9" * 400), "not a number"),
        (headers(timestamp="999999999999"), "window"),
    ],
)
def test_headers_of_any_other_form_are_refused_before_any_arithmetic(hdrs: dict[str, str], why: str) -> None:
    with pytest.raises(Unauthenticated, match=why):
        verify_signature(VECTOR_SECRET, VECTOR_BODY, hdrs, now=1634579353, tolerance_s=300)


HEADER_VALUE = st.text(max_size=60) | st.sampled_from([VECTOR_SIGNATURE, VECTOR_NONCE, VECTOR_TIMESTAMP])


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "x-sinch-webhook-signature",
                "X-Sinch-Webhook-Signature-Nonce",
                "x-sinch-webhook-signature-timestamp",
                "Authorization",
                "other",
            ]
        ),
        HEADER_VALUE,
    ),
    st.text(max_size=40),
)
def test_any_header_values_are_a_401_never_a_crash(hdrs: dict[str, str], body: str) -> None:
    try:
        authenticate(
            body, hdrs, hmac_secret=VECTOR_SECRET, basic_credentials="u:p", now=1634579353, tolerance_s=300
        )
    except Unauthenticated:
        return
    # Let in only with the vector's own signature over its own body, or the Basic credentials.
    assert body == VECTOR_BODY or hdrs.get("Authorization", "").startswith("Basic")
