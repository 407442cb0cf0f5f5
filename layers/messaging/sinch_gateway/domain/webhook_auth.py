"""Authenticating Sinch's webhooks: HMAC-SHA256 signatures as Sinch signs them (over the body,
its nonce and its timestamp, as Sinch's SDKs verify them), or Basic auth where it is configured
as the alternative."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sinch_gateway.domain.errors import Unauthenticated

# Sinch's nonces are 26-character ULIDs; printable ASCII within a bound keeps a nonce a valid
# DynamoDB key. Timestamps are whole epoch seconds; signatures are base64.
_NONCE = re.compile(r"[\x21-\x7e]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{1,128}={0,2}")


@dataclass(frozen=True)
class WebhookProof:
    """What a webhook call offers as proof that it is Sinch's, each part as the call sent it: None
    where it sent none (an empty part was sent, and is refused as what it is)."""

    signature: str | None = None
    nonce: str | None = None
    timestamp: str | None = None
    authorization: str | None = None  # credentials: a scheme, then its token ("Basic dXNlcjpwdw==")


@dataclass(frozen=True)
class Nonce:
    value: str
    fresh_until: int  # epoch seconds: from then on the timestamp window refuses a replay anyway


@dataclass(frozen=True)
class Verified:
    """How a webhook call proved it is Sinch's. Only a signed one has a nonce, to be refused if
    seen again; Basic auth has none, so it gets no replay check."""

    method: Literal["hmac", "basic", "token"]
    nonce: Nonce | None = None


def signature(secret: str, body: str, nonce: str, timestamp: str) -> str:
    # surrogatepass: a body that is not text signs to something no sender's signature matches.
    signed = f"{body}.{nonce}.{timestamp}".encode("utf-8", "surrogatepass")
    return base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def verify_signature(
    secret: str, body: str, proof: WebhookProof, *, now: float, tolerance_s: int
) -> Verified:
    """Raise Unauthenticated unless the call carries a fresh, valid signature."""
    given, nonce, timestamp = proof.signature, proof.nonce, proof.timestamp
    if not (given and nonce and timestamp):
        raise Unauthenticated("The webhook call is not signed.")
    # Each checked for its form first: a call can send anything, and none of it may crash us.
    if not _NONCE.fullmatch(nonce):
        raise Unauthenticated("The signature nonce is not 1-128 printable ASCII characters.")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Unauthenticated("The signature timestamp is not a number of seconds.")
    if not _SIGNATURE.fullmatch(given):
        raise Unauthenticated("The signature is not base64.")
    signed_at = int(timestamp)
    if abs(now - signed_at) > tolerance_s:
        # Outside the window a captured webhook call could be replayed.
        raise Unauthenticated("The signature timestamp is outside the accepted window.")
    if not hmac.compare_digest(signature(secret, body, nonce, timestamp).encode(), given.encode()):
        raise Unauthenticated("The signature does not match.")
    return Verified("hmac", Nonce(nonce, signed_at + tolerance_s))


def verify_basic(expected: str, proof: WebhookProof) -> Verified:
    """Raise Unauthenticated unless the call's Basic credentials are `expected` ("user:password")."""
    scheme, _, token = (proof.authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise Unauthenticated("The webhook call carries no Basic credentials.")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthenticated("The Basic credentials are not valid base64.") from None
    # Digests first: compare_digest is constant-time only for inputs of equal length.
    if not hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected.encode()).digest()):
        raise Unauthenticated("The Basic credentials do not match.")
    return Verified("basic")


def authenticate(
    body: str,
    proof: WebhookProof,
    *,
    hmac_secret: str | None,
    basic_credentials: str | None,
    now: float,
    tolerance_s: int,
) -> Verified:
    """A valid signature, or valid Basic credentials where those are configured; else 401."""
    if not hmac_secret and not basic_credentials:
        # An empty key would make every signature forgeable: refuse rather than accept all.
        raise Unauthenticated("Webhook authentication is not configured.")
    refusals: list[Unauthenticated] = []
    if hmac_secret:
        try:
            return verify_signature(hmac_secret, body, proof, now=now, tolerance_s=tolerance_s)
        except Unauthenticated as exc:
            refusals.append(exc)
    if basic_credentials:
        try:
            return verify_basic(basic_credentials, proof)
        except Unauthenticated as exc:
            refusals.append(exc)
    # Explain the failure of the scheme the caller tried (the signature's, if it tried both).
    tried_basic_only = proof.authorization is not None and proof.signature is None
    raise refusals[-1] if tried_basic_only else refusals[0]


def authenticate_postback(
    proof: WebhookProof,
    *,
    path_token: str | None,
    source_ip: str | None,
    basic_credentials: str | None,
    token: str | None,
    sources: Sequence[str] = (),
) -> Verified:
    """An MMS JSON API postback carries the proof of the URL provisioned for it: a token in the
    path, or Basic userinfo; and, where an allowlist is set, it comes from one of Sinch's addresses."""
    if not basic_credentials and not token:
        raise Unauthenticated("Postback authentication is not configured.")
    if sources and not _within(source_ip, sources):
        raise Unauthenticated("Postbacks are not accepted from this address.")
    if token and path_token is not None:
        # Digests first: compare_digest is constant-time only for inputs of equal length.
        given = hashlib.sha256(path_token.encode("utf-8", "surrogatepass")).digest()
        if hmac.compare_digest(given, hashlib.sha256(token.encode()).digest()):
            return Verified("token")
        raise Unauthenticated("The postback URL's token does not match.")
    if basic_credentials:
        return verify_basic(basic_credentials, proof)
    raise Unauthenticated("The postback URL carries no token.")


def _within(address: str | None, sources: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
        return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in sources)
    except ValueError:
        return False
