import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.api.webhook_proof import offered_proof
from sinch_gateway.domain.errors import Unauthenticated
from sinch_gateway.domain.webhook_auth import WebhookProof, authenticate, signature, verify_signature
from tests.sinch_vectors import (
    VECTOR_BODY,
    VECTOR_NONCE,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
)


def proof(
    sig: str = VECTOR_SIGNATURE, nonce: str = VECTOR_NONCE, timestamp: str = VECTOR_TIMESTAMP
) -> WebhookProof:
    return WebhookProof(signature=sig, nonce=nonce, timestamp=timestamp)


def test_signature_matches_sinchs_test_vector() -> None:
    assert signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_NONCE, VECTOR_TIMESTAMP) == VECTOR_SIGNATURE


def test_a_fresh_valid_signature_passes() -> None:
    verify_signature(VECTOR_SECRET, VECTOR_BODY, proof(), now=1634579353 + 10, tolerance_s=300)


@pytest.mark.parametrize(
    ("body", "offered", "now", "why"),
    [
        (VECTOR_BODY + " ", proof(), 1634579353, "does not match"),
        (VECTOR_BODY, proof(sig="AAAA"), 1634579353, "does not match"),
        (VECTOR_BODY, proof(nonce="other"), 1634579353, "does not match"),
        (VECTOR_BODY, proof(), 1634579353 + 301, "window"),
        (VECTOR_BODY, proof(), 1634579353 - 301, "window"),
        (VECTOR_BODY, proof(timestamp="soon"), 1634579353, "not a number"),
        (VECTOR_BODY, WebhookProof(), 1634579353, "not signed"),
    ],
)
def test_tampered_stale_or_unsigned_callbacks_are_refused(
    body: str, offered: WebhookProof, now: float, why: str
) -> None:
    with pytest.raises(Unauthenticated, match=why):
        verify_signature(VECTOR_SECRET, body, offered, now=now, tolerance_s=300)


def test_another_secret_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        verify_signature("not-the-secret", VECTOR_BODY, proof(), now=1634579353, tolerance_s=300)


@pytest.mark.parametrize(
    ("offered", "why"),
    [
        (proof(sig="\u00e9" * 44), "not base64"),  # compare_digest raised TypeError on these
        (proof(sig="\ud800"), "not base64"),
        (proof(sig="A" * 200), "not base64"),
        (proof(nonce="\u00fc"), "nonce"),
        (proof(nonce="\ud800"), "nonce"),
        (proof(nonce="a b"), "nonce"),
        (proof(nonce="n" * 129), "nonce"),
        (proof(timestamp="inf"), "not a number"),
        (proof(timestamp="nan"), "not a number"),
        (proof(timestamp="1e400"), "not a number"),
        (proof(timestamp="1e9"), "not a number"),
        (proof(timestamp="-1634579353"), "not a number"),
        (proof(timestamp="1_634_579_353"), "not a number"),
        (proof(timestamp="".join(chr(0x660 + int(d)) for d in VECTOR_TIMESTAMP)), "not a number"),
        (proof(timestamp=" " + VECTOR_TIMESTAMP), "not a number"),
        (proof(timestamp="9" * 400), "not a number"),
        (proof(timestamp="999999999999"), "window"),
    ],
)
def test_proof_of_any_other_form_is_refused_before_any_arithmetic(offered: WebhookProof, why: str) -> None:
    with pytest.raises(Unauthenticated, match=why):
        verify_signature(VECTOR_SECRET, VECTOR_BODY, offered, now=1634579353, tolerance_s=300)


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
            body,
            offered_proof(hdrs),
            hmac_secret=VECTOR_SECRET,
            basic_credentials="u:p",
            now=1634579353,
            tolerance_s=300,
        )
    except Unauthenticated:
        return
    # Let in only with the vector's own signature over its own body, or the Basic credentials.
    assert body == VECTOR_BODY or hdrs.get("Authorization", "").startswith("Basic")
