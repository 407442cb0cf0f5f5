"""Sinch SMS REST API (XMS) client: sends batches and classifies every outcome."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import pydantic_core
import urllib3
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

from sinch_gateway.domain.message import utcnow
from sinch_gateway.sinch.credentials import CredentialStore, SecretInvalid
from sinch_gateway.sinch.tokens import BearerTokens, TokenFailure


@dataclass(frozen=True)
class OutboundMessage:
    to: str
    client_reference: str
    callback_url: str
    text: str | None = None
    media_url: str | None = None
    subject: str | None = None
    send_at: datetime | None = None


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
class NotFound:
    """Sinch holds no batch for the reference."""


@dataclass(frozen=True)
class Refused:
    """Sinch refused the batch for good (4xx other than 401/429)."""

    http_status: int
    code: str
    text: str


@dataclass(frozen=True)
class AuthFailed:
    detail: str


@dataclass(frozen=True)
class Answered:
    """A 2xx answer, with its JSON body."""

    data: Any


# Sinch's dry-run answer (sinch-api.md §1.3), read with pydantic: any other shape is no answer.
@dataclass(frozen=True)
class DryRunPart:
    recipient: str = ""
    number_of_parts: Annotated[int, Field(ge=0, le=10_000)] = 1
    encoding: str = "GSM"
    body: str = ""


@dataclass(frozen=True)
class DryRun:
    number_of_messages: Annotated[int, Field(ge=0, le=10_000)] = 0
    recipients: Annotated[
        tuple[DryRunPart, ...],
        BeforeValidator(lambda parts: () if parts is None else parts),
        Field(alias="per_recipient"),
    ] = ()


_dry_run_answer = TypeAdapter(DryRun)


CallOutcome = Answered | Transient | Refused | AuthFailed
SendOutcome = Accepted | Transient | Refused | AuthFailed
DryRunOutcome = DryRun | Transient | Refused | AuthFailed


def batch_body(message: OutboundMessage, sender: str) -> dict[str, Any]:
    body: dict[str, Any] = {"to": [message.to], "from": sender, "client_reference": message.client_reference}
    # Every status change of every message comes back to us; a dry run has nowhere to report to.
    if message.callback_url:
        body.update(delivery_report="per_recipient", callback_url=message.callback_url)
    else:
        body["delivery_report"] = "none"
    if message.send_at:
        body["send_at"] = (
            message.send_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
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


# Sinch asking for more than this is taken as this: an infinite or far-future Retry-After would
# otherwise overflow a delay or park a message for ever.
MAX_RETRY_AFTER_S = 24 * 60 * 60.0
_DELAY_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")  # RFC 9110's delay-seconds (fractions tolerated)
# Sinch's error codes are snake_case words (e.g. syntax_invalid_parameter_format).
_ERROR_CODE = re.compile(r"[a-z0-9_]{1,64}")
MAX_ERROR_TEXT_CHARS = 500
# Sinch's batch ids are ULIDs; anything printable and short enough works as a key and in a path.
_BATCH_ID = re.compile(r"[\x21-\x7e]{1,128}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait, within [0, MAX_RETRY_AFTER_S], or None when the header says nothing usable."""
    value = (value or "").strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)  # a very long number is inf here, bounded below
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)  # an HTTP-date is GMT
        seconds = (when - utcnow()).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _json(data: bytes) -> Any:
    """A body as JSON, or None. pydantic's parser: no RecursionError on deep nesting, and no lone
    surrogates (which nothing downstream could store)."""
    try:
        return pydantic_core.from_json(data) if data else None
    except ValueError:
        return None


def _batch_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _BATCH_ID.fullmatch(value) else None


def _error_of(response: urllib3.BaseHTTPResponse) -> tuple[str, str]:
    """Sinch's error code and text, or our stand-ins: they are stored and shown to clients."""
    data = _json(response.data)
    code = data.get("code") if isinstance(data, dict) else None
    text = data.get("text") if isinstance(data, dict) else None
    return (
        code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else f"http_{response.status}",
        text[:MAX_ERROR_TEXT_CHARS] if isinstance(text, str) else "",
    )


def classify(response: urllib3.BaseHTTPResponse) -> CallOutcome:
    status = response.status
    if 200 <= status < 300:
        return Answered(_json(response.data))
    if status == 401:
        return AuthFailed("Sinch answered 401 Unauthorized")
    if status == 429:
        return Transient("rate_limited", parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        return Transient(f"sinch_{status}", parse_retry_after(response.headers.get("Retry-After")))
    code, text = _error_of(response)
    return Refused(status, code, text)


def as_send_outcome(outcome: CallOutcome) -> SendOutcome:
    if not isinstance(outcome, Answered):
        return outcome
    batch_id = _batch_id(outcome.data.get("id")) if isinstance(outcome.data, dict) else None
    if batch_id is None:
        # Sinch took it but we cannot tell which batch: treat it like a lost answer.
        return Transient("malformed_response", ambiguous=True)
    return Accepted(batch_id)


def as_dry_run(outcome: CallOutcome) -> DryRunOutcome:
    if not isinstance(outcome, Answered):
        return outcome
    try:
        return _dry_run_answer.validate_python(outcome.data)
    except ValidationError:
        return Transient("malformed_response")


def as_lookup(outcome: CallOutcome, client_reference: str) -> SendOutcome | NotFound:
    """The batch a page of Sinch's batch list holds for `client_reference`. Only a well-formed page
    without it is NotFound: anything else could hide a batch, and must not lead to a resend."""
    if not isinstance(outcome, Answered):
        return outcome
    batches = outcome.data.get("batches") if isinstance(outcome.data, dict) else None
    if not isinstance(batches, list):
        return Transient("malformed_response")
    for batch in batches:
        if isinstance(batch, dict) and batch.get("client_reference") == client_reference:
            batch_id = _batch_id(batch.get("id"))
            return Accepted(batch_id) if batch_id else Transient("malformed_response")
    return NotFound()


class XmsClient:
    def __init__(
        self, credentials: CredentialStore, http: urllib3.PoolManager, timeout: urllib3.Timeout
    ) -> None:
        self._credentials = credentials
        self._http = http
        self._timeout = timeout
        self._tokens = BearerTokens(http, timeout)

    def send(self, message: OutboundMessage) -> SendOutcome:
        return as_send_outcome(self._call("POST", "/batches", message))

    def dry_run(self, message: OutboundMessage) -> DryRunOutcome:
        query = {"per_recipient": "true", "number_of_recipients": "1"}
        return as_dry_run(self._call("POST", "/batches/dry_run", message, query))

    def cancel(self, batch_id: str) -> CallOutcome:
        return self._call("DELETE", f"/batches/{quote(batch_id, safe='')}")

    def find_batch(self, client_reference: str) -> SendOutcome | NotFound:
        """The batch Sinch already holds for our message, if an earlier answer was lost."""
        outcome = self._call(
            "GET", "/batches", query={"client_reference": client_reference, "page_size": "10"}
        )
        return as_lookup(outcome, client_reference)

    def _call(
        self,
        method: str,
        path: str,
        message: OutboundMessage | None = None,
        query: dict[str, str] | None = None,
    ) -> CallOutcome:
        outcome: CallOutcome = AuthFailed("not tried")
        # A 401 may mean the secret was rotated or the access token expired: fetch both anew
        # and try once more.
        for refresh in (False, True):
            try:
                credentials = self._credentials.get(refresh=refresh)
            except (SecretInvalid, GetParameterError) as exc:
                # A setup fault, not the message's: it waits for a fixed secret like any outage,
                # and ends failed with this reason if the fix does not come in time.
                return Transient(f"sinch_credentials_unavailable: {exc}"[:300])
            bearer = self._tokens.bearer(credentials, refresh=refresh)
            if isinstance(bearer, TokenFailure):
                outcome = Transient(bearer.detail) if bearer.transient else AuthFailed(bearer.detail)
                continue
            body = batch_body(message, credentials.from_number) if message else None
            outcome = self._once(bearer, credentials.xms_base_url, method, path, body=body, query=query)
            if not isinstance(outcome, AuthFailed):
                return outcome
        return outcome

    def _once(
        self,
        bearer: str,
        base_url: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None,
        query: dict[str, str] | None,
    ) -> CallOutcome:
        url = f"{base_url}{path}" + (f"?{urlencode(query)}" if query else "")
        try:
            response = self._http.request(
                method,
                url,
                body=json.dumps(body).encode() if body is not None else None,
                headers={
                    "Authorization": f"Bearer {bearer}",
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
            # Read timeout or dropped connection: Sinch may have acted on the request.
            return Transient(f"no_answer: {type(exc).__name__}", ambiguous=True)
        return classify(response)
