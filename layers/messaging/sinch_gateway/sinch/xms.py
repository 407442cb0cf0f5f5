"""Sinch SMS REST API (XMS) client: sends batches and classifies every outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

from sinch_gateway.credentials import CredentialStore, SinchCredentials
from sinch_gateway.message import utcnow


@dataclass(frozen=True)
class OutboundMessage:
    to: str
    client_reference: str
    callback_url: str
    text: str | None = None
    media_url: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class Accepted:
    batch_id: str


@dataclass(frozen=True)
class Transient:
    """Worth trying again later. `ambiguous`: Sinch may have accepted the batch anyway."""

    reason: str
    retry_after_s: float | None = None
    ambiguous: bool = False


@dataclass(frozen=True)
class Refused:
    """Sinch refused the batch for good (4xx other than 401/429)."""

    http_status: int
    code: str
    text: str


@dataclass(frozen=True)
class AuthFailed:
    detail: str


SendOutcome = Accepted | Transient | Refused | AuthFailed


def batch_body(message: OutboundMessage, sender: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": [message.to],
        "from": sender,
        "delivery_report": "per_recipient",
        "callback_url": message.callback_url,
        "client_reference": message.client_reference,
    }
    if message.media_url:
        media: dict[str, str] = {"url": message.media_url}
        if message.text:
            media["message"] = message.text
        if message.subject:
            media["subject"] = message.subject
        body.update(type="mt_media", body=media)
    else:
        body.update(type="mt_text", body=message.text or "")
    return body


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


def _error_of(response: urllib3.BaseHTTPResponse) -> tuple[str, str]:
    try:
        data = json.loads(response.data)
        return str(data.get("code") or f"http_{response.status}"), str(data.get("text") or "")
    except (ValueError, AttributeError, TypeError):
        return f"http_{response.status}", ""


def classify(response: urllib3.BaseHTTPResponse) -> SendOutcome:
    status = response.status
    if 200 <= status < 300:
        try:
            return Accepted(batch_id=str(json.loads(response.data)["id"]))
        except (ValueError, KeyError, TypeError):
            # Sinch took it but we cannot tell which batch: treat like a lost answer.
            return Transient("malformed_response", ambiguous=True)
    if status == 401:
        return AuthFailed("Sinch answered 401 Unauthorized")
    if status == 429:
        return Transient("rate_limited", parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        return Transient(f"sinch_{status}", parse_retry_after(response.headers.get("Retry-After")))
    code, text = _error_of(response)
    return Refused(status, code, text)


class XmsClient:
    def __init__(
        self, credentials: CredentialStore, http: urllib3.PoolManager, timeout: urllib3.Timeout
    ) -> None:
        self._credentials = credentials
        self._http = http
        self._timeout = timeout

    def send(self, message: OutboundMessage) -> SendOutcome:
        outcome: SendOutcome = AuthFailed("not tried")
        # A 401 may mean the secret was rotated: fetch it anew and try once more.
        for refresh in (False, True):
            credentials = self._credentials.get(refresh=refresh)
            outcome = self._post_batch(credentials, batch_body(message, credentials.from_number))
            if not isinstance(outcome, AuthFailed):
                return outcome
        return outcome

    def _post_batch(self, credentials: SinchCredentials, body: dict[str, Any]) -> SendOutcome:
        try:
            response = self._http.request(
                "POST",
                f"{credentials.xms_base_url}/batches",
                body=json.dumps(body).encode(),
                headers={
                    "Authorization": f"Bearer {credentials.api_token.get_secret_value()}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                timeout=self._timeout,
                retries=False,
            )
        except (ConnectTimeoutError, NewConnectionError) as exc:
            # The request never reached Sinch.
            return Transient(f"connect_error: {type(exc).__name__}")
        except HTTPError as exc:
            # Read timeout or dropped connection: Sinch may have accepted the batch.
            return Transient(f"no_answer: {type(exc).__name__}", ambiguous=True)
        return classify(response)
