"""Sinch's MMS JSON API: rich MMS of up to 8 slides (`sendmms`), saved templates (`savemms`) and
sends from them (`sendsavedmms`), all on one endpoint chosen by `action`
(https://developers.sinch.com/docs/mms/api-reference/mms).

Every answer is HTTP 200 with a `status` of "success" or "failure" and an E-code; the answers table
(domain.answers) says what each code means. The API has no way to look a message up, to cancel
one, or to try one dry: those are CannotLookUp and NotOffered, and the send logic above copes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pydantic_core
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

from sinch_gateway.domain.answers import Verdict, judge
from sinch_gateway.domain.content import Api, MmsSlidesContent, MmsTemplateContent, Slide
from sinch_gateway.domain.mms_media import kind_of
from sinch_gateway.domain.outcomes import (
    Accepted,
    AuthFailed,
    CallOutcome,
    CannotLookUp,
    DryRunOutcome,
    LookupOutcome,
    NotOffered,
    OutboundMessage,
    Refused,
    ReportOutcome,
    SendOutcome,
    Transient,
)
from sinch_gateway.measures import timed_sinch_call
from sinch_gateway.sinch.credentials import CredentialStore, SecretError, SinchCredentials
from sinch_gateway.sinch.xms import MAX_ERROR_TEXT_CHARS, sinch_id, sinch_time

_ERROR_CODE_CHARS = 16
NO_MMS_CREDENTIALS = "sinch_credentials_unavailable: the Sinch secret lacks mms_api_key or mms_service_id"


def slide_objects(slides: tuple[Slide, ...]) -> list[dict[str, Any]]:
    """Our slides as the API's: one object per media kind, and the slide's text."""
    objects = []
    for slide in slides:
        item: dict[str, Any] = {}
        for media in slide.media:
            kind = kind_of(media.content_type)
            if kind is None:  # admission checked every type: this is a stored message gone wrong
                raise ValueError(f"no MMS JSON API kind for {media.content_type}")
            item[kind] = {"url": media.url}
        if slide.text:
            item["message-text"] = slide.text
        objects.append(item)
    return objects


def _digits(number: str) -> str:
    """Numbers as the API takes them: country code and number, without the '+'."""
    return number.removeprefix("+")


def request_body(message: OutboundMessage, credentials: SinchCredentials) -> dict[str, Any]:
    content = message.content
    body: dict[str, Any] = {
        "service-id": credentials.mms_service_id,
        "to": _digits(message.to),
        "from": _digits(credentials.from_number),
        "client-reference": message.reference,
    }
    if message.expire_at:
        body["mms-expiry-timestamp"] = sinch_time(message.expire_at)
    match content:
        case MmsSlidesContent():
            body.update({"action": "sendmms", "slide": slide_objects(content.slides)})
        case MmsTemplateContent():
            body.update(
                {
                    "action": "sendsavedmms",
                    "mms-id": content.mms_id,
                    "custom-slides": [
                        {"custom-slide": str(s.slide), "custom-message-text": s.text}
                        for s in content.slide_texts
                    ],
                }
            )
        case other:
            raise ValueError(f"the MMS JSON API does not carry {other.kind} messages")
    options = {
        "message-subject": content.subject,
        "fallback-sms-text": content.fallback_text,
        "disable-fallback-sms": content.disable_fallback_sms or None,
        "disable-fallback-sms-link": content.disable_fallback_sms_link or None,
        "from-mask": content.from_mask,
    }
    body.update({k: v for k, v in options.items() if v is not None})
    return body


def template_body(
    template_id: str, name: str, subject: str, slides: tuple[Slide, ...], fallback_text: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": "savemms",
        "name": name,
        "message-subject": subject,
        "slide": slide_objects(slides),
        "client-reference": template_id,
    }
    if fallback_text:
        body["fallback-sms-text"] = fallback_text
    return body


def _payload(data: bytes) -> dict[str, Any] | None:
    """The answer's payload: the body itself, or the `responsePayload` it is wrapped in."""
    try:
        parsed = pydantic_core.from_json(data) if data else None
    except ValueError:
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("responsePayload"), dict):
        parsed = parsed["responsePayload"]
    return parsed if isinstance(parsed, dict) else None


def classify(response: urllib3.BaseHTTPResponse) -> SendOutcome:
    status = response.status
    payload = _payload(response.data)
    if status == 200 and payload is not None and payload.get("status") == "success":
        tracking = sinch_id(payload.get("tracking-id"))
        # Accepted, but we cannot tell which message it is: like a lost answer.
        return Accepted(tracking) if tracking else Transient("malformed_response", ambiguous=True)
    code = payload.get("error-code") if payload else None
    code = code if isinstance(code, str) and code.isalnum() and len(code) <= _ERROR_CODE_CHARS else None
    info = payload.get("error-info") if payload else None
    text = info[:MAX_ERROR_TEXT_CHARS] if isinstance(info, str) else ""
    if status == 200 and code is None:
        # Neither a success nor an error we can read: the request may have been taken.
        return Transient("malformed_response", ambiguous=True)
    rule = judge(Api.MMS_JSON, status, code)
    match rule.verdict:
        case Verdict.RETRY:
            reason = "rate_limited" if rule.rate_limited else f"sinch_{code or status}"
            return Transient(reason, rate_limited=rule.rate_limited)
        case Verdict.FAIL:
            return AuthFailed(f"Sinch answered {code or status}", http_status=status, code=code or "")
        case _:
            return Refused(status, code or f"http_{status}", text, rule.refusal)


class MmsJsonChannel:
    api = Api.MMS_JSON

    def __init__(
        self,
        credentials: CredentialStore,
        http: urllib3.PoolManager,
        timeout: urllib3.Timeout,
        *,
        settle_s: float,
    ) -> None:
        self._credentials = credentials
        self._http = http
        self._timeout = timeout
        # The API has no lookup: after a lost answer, its postbacks are the only witness. N101
        # comes as soon as Sinch starts on a message, so a message it took has moved on by then.
        self.settle_s = settle_s

    def send(self, message: OutboundMessage) -> SendOutcome:
        return self._call(lambda credentials: request_body(message, credentials))

    def save_template(
        self, template_id: str, name: str, subject: str, slides: tuple[Slide, ...], fallback_text: str | None
    ) -> SendOutcome:
        return self._call(lambda _: template_body(template_id, name, subject, slides, fallback_text))

    def find(self, reference: str) -> LookupOutcome:
        return CannotLookUp()

    def cancel(self, sinch_id: str) -> CallOutcome | NotOffered:
        return NotOffered()

    def report(self, sinch_id: str, recipient: str) -> ReportOutcome:
        return CannotLookUp()  # only postbacks tell what became of a message

    def dry_run(self, message: OutboundMessage) -> DryRunOutcome:
        return NotOffered()

    def _call(self, body_for: Callable[[SinchCredentials], dict[str, Any]]) -> SendOutcome:
        outcome: SendOutcome = AuthFailed("not tried")
        # A refused API key may mean the secret was rotated: read it again and try once more.
        for refresh in (False, True):
            try:
                credentials = self._credentials.get(refresh=refresh)
            except SecretError as exc:
                return Transient(f"sinch_credentials_unavailable: {exc}"[:300])
            if credentials.mms_api_key is None or not credentials.mms_service_id:
                return Transient(
                    "sinch_credentials_unavailable: the Sinch secret lacks mms_api_key or mms_service_id"
                )
            outcome = self._once(credentials, body_for(credentials))
            if not isinstance(outcome, AuthFailed):
                return outcome
        return outcome

    def _once(self, credentials: SinchCredentials, body: dict[str, Any]) -> SendOutcome:
        assert credentials.mms_api_key is not None
        api_key = credentials.mms_api_key.get_secret_value()
        try:
            response = timed_sinch_call(
                self.api,
                lambda: self._http.request(
                    "POST",
                    credentials.mms_url,
                    body=json.dumps(body).encode(),
                    headers={
                        "x-api-key": api_key,
                        "Content-Type": "application/json; charset=utf-8",
                        "Accept": "application/json",
                    },
                    timeout=self._timeout,
                    retries=False,
                ),
            )
        except (ConnectTimeoutError, NewConnectionError) as exc:
            return Transient(f"connect_error: {type(exc).__name__}")  # it never reached Sinch
        except HTTPError as exc:
            # Read timeout or dropped connection: Sinch may have taken the message.
            return Transient(f"no_answer: {type(exc).__name__}", ambiguous=True)
        return classify(response)
