"""Sinch SMS REST API (XMS) client: sends batches and classifies every outcome."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

import pydantic_core
import urllib3
from pydantic import TypeAdapter, ValidationError
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

from sinch_gateway.domain.answers import Verdict, judge
from sinch_gateway.domain.content import Api, SmsContent, XmsMediaContent
from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.outcomes import (
    Accepted,
    Answered,
    AuthFailed,
    CallOutcome,
    DryRun,
    DryRunOutcome,
    LookupOutcome,
    NotFound,
    OutboundBatch,
    OutboundMessage,
    Refused,
    ReportOutcome,
    SendOutcome,
    Transient,
)
from sinch_gateway.domain.reports import MalformedReport
from sinch_gateway.measures import timed_sinch_call
from sinch_gateway.sinch.credentials import CredentialStore, SecretError
from sinch_gateway.sinch.tokens import BearerTokens, TokenFailure
from sinch_gateway.sinch.xms_reports import read_delivery_report

_dry_run_answer = TypeAdapter(DryRun)


def sinch_time(at: datetime) -> str:
    """A time as Sinch writes its own: UTC, to the millisecond, with a Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def batch_body(message: OutboundMessage | OutboundBatch, sender: str) -> dict[str, Any]:
    """The XMS batch for one message, or for several recipients of one of our batches (with the
    `parameters` that fill in each one's text): `mt_text` for an SMS, `mt_media` for a one-file MMS."""
    if isinstance(message, OutboundBatch):
        to = list(message.recipients)
        extra: dict[str, Any] = {"parameters": message.parameters} if message.parameters else {}
    else:
        to, extra = [message.to], {}
    body: dict[str, Any] = {"to": to, "from": sender, "client_reference": message.reference, **extra}
    # Only each message's final status comes back: Sinch's intermediate Dispatched would cost a
    # webhook call and a write per message and changes nothing a client acts on. A dry run has
    # nowhere to report to.
    if message.webhook_url:
        body.update(delivery_report="per_recipient_final", callback_url=message.webhook_url)
    else:
        body["delivery_report"] = "none"
    if message.send_at:
        body["send_at"] = sinch_time(message.send_at)
    if message.expire_at:
        body["expire_at"] = sinch_time(message.expire_at)
    match message.content:
        case SmsContent(text=text):
            body.update(type="mt_text", body=text)
        case XmsMediaContent(media_url=url, text=text, subject=subject):
            media = {
                "url": url,
                **({"message": text} if text else {}),
                **({"subject": subject} if subject else {}),
            }
            body.update(type="mt_media", body=media)
        case other:
            raise ValueError(f"XMS does not carry {other.kind} messages")
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


def sinch_id(value: Any) -> str | None:
    """Sinch's id for what it accepted, when it is one we can store and put in a path."""
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
    code, text = _error_of(response)
    rule = judge(Api.XMS, status, code)
    match rule.verdict:
        case Verdict.RETRY:
            reason = "rate_limited" if rule.rate_limited else f"sinch_{status}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return Transient(reason, retry_after, rate_limited=rule.rate_limited)
        case Verdict.FAIL:
            return AuthFailed(f"Sinch answered {status}")
        case _:
            return Refused(status, code, text, rule.refusal)


def as_send_outcome(outcome: CallOutcome) -> SendOutcome:
    if not isinstance(outcome, Answered):
        return outcome
    batch_id = sinch_id(outcome.data.get("id")) if isinstance(outcome.data, dict) else None
    if batch_id is None:
        # Sinch took it but we cannot tell which batch: treat it like a lost answer.
        return Transient("malformed_response", ambiguous=True)
    return Accepted(batch_id)


def as_dry_run(outcome: CallOutcome) -> DryRun | Transient | Refused | AuthFailed:
    if not isinstance(outcome, Answered):
        return outcome
    try:
        return _dry_run_answer.validate_python(outcome.data)
    except ValidationError:
        return Transient("malformed_response")


def as_report(outcome: CallOutcome) -> ReportOutcome:
    """The recipient's report Sinch answered: a 404 is Sinch holding no such batch or recipient;
    an answer that is no report is no answer."""
    if isinstance(outcome, Refused) and outcome.http_status == HTTPStatus.NOT_FOUND:
        return NotFound()
    if not isinstance(outcome, Answered):
        return outcome
    try:
        return read_delivery_report(outcome.data)
    except MalformedReport:
        return Transient("malformed_response")


def as_lookup(outcome: CallOutcome, client_reference: str) -> LookupOutcome:
    """The batch a page of Sinch's batch list holds for `client_reference`. Only a well-formed page
    without it is NotFound: anything else could hide a batch, and must not lead to a resend."""
    if not isinstance(outcome, Answered):
        return outcome
    batches = outcome.data.get("batches") if isinstance(outcome.data, dict) else None
    if not isinstance(batches, list):
        return Transient("malformed_response")
    for batch in batches:
        if isinstance(batch, dict) and batch.get("client_reference") == client_reference:
            batch_id = sinch_id(batch.get("id"))
            return Accepted(batch_id) if batch_id else Transient("malformed_response")
    return NotFound()


class XmsChannel:
    """The XMS REST API (`/xms/v1/...`): SMS and one-file MMS, with a lookup by client_reference."""

    api = Api.XMS

    def __init__(
        self, credentials: CredentialStore, http: urllib3.PoolManager, timeout: urllib3.Timeout
    ) -> None:
        self._credentials = credentials
        self._http = http
        self._timeout = timeout
        self._tokens = BearerTokens(http, timeout)
        # A batch Sinch was still creating when our read timed out shows in its list by then.
        self.settle_s = 2 * float(timeout.read_timeout or 5.0)

    def send(self, message: OutboundMessage) -> SendOutcome:
        return as_send_outcome(self._call("POST", "/batches", message))

    def send_batch(self, batch: OutboundBatch) -> SendOutcome:
        """One call for several recipients (at most Sinch's 1,000), each text filled in by Sinch."""
        return as_send_outcome(self._call("POST", "/batches", batch))

    def dry_run(self, message: OutboundMessage) -> DryRunOutcome:
        query = {"per_recipient": "true", "number_of_recipients": "1"}
        return as_dry_run(self._call("POST", "/batches/dry_run", message, query))

    def cancel(self, sinch_id: str) -> CallOutcome:
        return self._call("DELETE", f"/batches/{quote(sinch_id, safe='')}")

    def report(self, sinch_id: str, recipient: str) -> ReportOutcome:
        """Sinch's per-recipient delivery report, as it stands now."""
        msisdn = quote(recipient.removeprefix("+"), safe="")
        path = f"/batches/{quote(sinch_id, safe='')}/delivery_report/{msisdn}"
        return as_report(self._call("GET", path))

    def find(self, reference: str) -> LookupOutcome:
        """The batch Sinch already holds for our message, if an earlier answer was lost."""
        outcome = self._call("GET", "/batches", query={"client_reference": reference, "page_size": "10"})
        return as_lookup(outcome, reference)

    def _call(
        self,
        method: str,
        path: str,
        message: OutboundMessage | OutboundBatch | None = None,
        query: dict[str, str] | None = None,
    ) -> CallOutcome:
        outcome: CallOutcome = AuthFailed("not tried")
        # A 401 may mean the secret was rotated or the access token expired: fetch both anew
        # and try once more.
        for refresh in (False, True):
            try:
                credentials = self._credentials.get(refresh=refresh)
            except SecretError as exc:
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
            response = timed_sinch_call(
                self.api,
                lambda: self._http.request(
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
                ),
            )
        except (ConnectTimeoutError, NewConnectionError) as exc:
            # The request never reached Sinch.
            return Transient(f"connect_error: {type(exc).__name__}")
        except HTTPError as exc:
            # Read timeout or dropped connection: Sinch may have acted on the request.
            return Transient(f"no_answer: {type(exc).__name__}", ambiguous=True)
        return classify(response)
