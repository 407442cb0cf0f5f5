"""Which callbacks `authenticate` lets in: a valid signature, or Basic auth where configured."""

import base64
from dataclasses import replace

import pytest

from sinch_gateway.domain.errors import Unauthenticated
from sinch_gateway.domain.webhook_auth import Nonce, Verified, WebhookProof, authenticate
from sinch_gateway.sinch.credentials import WebhookSecrets
from tests.sinch_vectors import VECTOR_BODY, VECTOR_NONCE, VECTOR_SECRET, VECTOR_SIGNATURE, VECTOR_TIMESTAMP

NOW = int(VECTOR_TIMESTAMP) + 10
BASIC = "sinch:correct horse:battery"  # a password may hold ':' too
SIGNED = WebhookProof(signature=VECTOR_SIGNATURE, nonce=VECTOR_NONCE, timestamp=VECTOR_TIMESTAMP)


def basic(credentials: str, scheme: str = "Basic") -> WebhookProof:
    return WebhookProof(authorization=f"{scheme} {base64.b64encode(credentials.encode()).decode()}")


def decide(
    proof: WebhookProof, *, secret: str | None = VECTOR_SECRET, basic_credentials: str | None = BASIC
) -> Verified:
    return authenticate(
        VECTOR_BODY,
        proof,
        hmac_secret=secret,
        basic_credentials=basic_credentials,
        now=NOW,
        tolerance_s=300,
    )


def test_a_valid_signature_passes_with_its_nonce_fresh_until_the_window_closes() -> None:
    assert decide(SIGNED) == Verified("hmac", Nonce(VECTOR_NONCE, int(VECTOR_TIMESTAMP) + 300))


@pytest.mark.parametrize("basic_credentials", [BASIC, None])
def test_a_valid_signature_passes_whether_or_not_basic_auth_is_configured(
    basic_credentials: str | None,
) -> None:
    assert decide(SIGNED, basic_credentials=basic_credentials).method == "hmac"


def test_valid_basic_credentials_pass_without_a_nonce() -> None:
    assert decide(basic(BASIC)) == Verified("basic")


def test_valid_basic_credentials_pass_even_beside_a_bad_signature() -> None:
    bad_signature = replace(SIGNED, signature="AAAA")
    assert decide(replace(bad_signature, authorization=basic(BASIC).authorization)) == Verified("basic")


def test_basic_credentials_pass_without_an_hmac_secret() -> None:
    assert decide(basic(BASIC), secret=None).method == "basic"


@pytest.mark.parametrize(
    ("proof", "why"),
    [
        (basic("sinch:wrong"), "do not match"),
        (basic("sinch"), "do not match"),
        (basic(BASIC, scheme="Bearer"), "no Basic credentials"),
        (WebhookProof(authorization="Basic not*base64"), "not valid base64"),
        (WebhookProof(authorization="Basic "), "no Basic credentials"),
        (WebhookProof(), "not signed"),
        (
            replace(SIGNED, signature="AAAA", authorization=basic("sinch:wrong").authorization),
            "signature does not match",
        ),
    ],
)
def test_anything_else_is_refused(proof: WebhookProof, why: str) -> None:
    with pytest.raises(Unauthenticated, match=why):
        decide(proof)


def test_basic_credentials_are_refused_when_basic_auth_is_not_configured() -> None:
    with pytest.raises(Unauthenticated, match="not signed"):
        decide(basic(BASIC), basic_credentials=None)


def test_nothing_configured_refuses_everything() -> None:
    for proof in (SIGNED, basic(BASIC), WebhookProof()):
        with pytest.raises(Unauthenticated, match="not configured"):
            decide(proof, secret=None, basic_credentials=None)


@pytest.mark.parametrize(
    ("timestamp", "nonce"), [("nan", VECTOR_NONCE), ("inf", VECTOR_NONCE), (VECTOR_TIMESTAMP, "n" * 129)]
)
def test_a_timestamp_that_is_no_time_or_an_oversized_nonce_is_refused(timestamp: str, nonce: str) -> None:
    with pytest.raises(Unauthenticated):
        decide(replace(SIGNED, timestamp=timestamp, nonce=nonce), basic_credentials=None)


def test_refusals_name_no_secret() -> None:
    for proof in (basic("sinch:wrong"), replace(SIGNED, signature="AAAA")):
        with pytest.raises(Unauthenticated) as refused:
            decide(proof)
        text = str(refused.value.detail) + repr(refused.value)
        assert VECTOR_SECRET not in text and "battery" not in text


# --- the webhook secret's fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "credentials"),
    [
        ("sinch:pw", "sinch:pw"),
        ("sinch:", "sinch:"),
        ("sinch:a:b", "sinch:a:b"),
        ("no-colon", None),  # not user:password: Basic auth stays off
        (":pw", None),
        ("", None),
        (None, None),
    ],
)
def test_basic_auth_is_on_only_for_a_user_password_pair(value: str | None, credentials: str | None) -> None:
    secret = WebhookSecrets.model_validate({"webhook_basic_auth": value})
    assert secret.webhook_basic_credentials == credentials


def test_the_webhook_secrets_never_show_in_the_model() -> None:
    secret = WebhookSecrets.model_validate({"webhook_basic_auth": "sinch:hunter2", "webhook_secret": "k3y"})
    shown = repr(secret) + str(secret) + secret.model_dump_json()
    assert "hunter2" not in shown and "k3y" not in shown
    assert secret.webhook_hmac_secret == "k3y"


def test_an_empty_webhook_secret_is_no_secret() -> None:
    assert WebhookSecrets.model_validate({"webhook_secret": ""}).webhook_hmac_secret is None
