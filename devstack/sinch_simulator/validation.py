"""Validation of POST /batches and /batches/dry_run bodies, the way XMS answers: 400 with
`{"code", "text"}` (https://developers.sinch.com/docs/sms/api-reference/status-codes/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .common import ApiError, is_http_url, iso, parse_iso

# E.164: a country code never starts with 0; "+" optional, as XMS takes it.
MSISDN = re.compile(r"^\+?[1-9]\d{6,14}$")
# Phone number or short code, or an alphanumeric sender (11 chars is the GSM limit).
SENDER = re.compile(r"^(\+?\d{3,15}|[A-Za-z0-9][A-Za-z0-9 ._-]{0,10})$")
PARAMETER = re.compile(r"\$\{([A-Za-z0-9._-]+)\}")
# Sinch's parameter names: letters, digits, '.', '_', '-', at most 16; values at most 160 characters.
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,16}$")
MAX_PARAMETER_VALUE = 160
DEFAULT_KEY = "default"  # a parameter's value for recipients it names no value for
DELIVERY_REPORTS = ("none", "summary", "full", "per_recipient", "per_recipient_final")
MAX_RECIPIENTS = 1000
# Old docs say 1600; the current limit is not documented. 2000 is a hard cap here so the simulator
# never hides a gateway that sends more than the 1600 it promises, yet rejects absurd bodies.
MAX_TEXT = 2000
MAX_MEDIA_TEXT = 5000
MAX_SUBJECT = 80
MAX_CLIENT_REFERENCE = 128
MAX_CALLBACK_URL = 2048
MAX_VALIDITY = timedelta(days=3)


@dataclass(frozen=True)
class BatchRequest:
    """A validated batch request. `echo` holds the fields Sinch returns in the batch object."""

    type: str  # "mt_text" | "mt_media"
    to: tuple[str, ...]  # as given, duplicates (with or without "+") removed: see _recipients
    text: str  # mt_text body, or the media message ("" when none)
    media_url: str | None
    parameters: dict[str, dict[str, str]]
    delivery_report: str
    callback_url: str | None
    client_reference: str | None
    send_at: datetime | None
    expire_at: datetime
    max_parts: int | None
    truncate_concat: bool
    echo: dict[str, Any]

    @property
    def is_media(self) -> bool:
        return self.type == "mt_media"

    def body_for(self, recipient: str) -> str | None:
        """The text after `${name}` substitution; None when a parameter has no value for him."""
        text, complete = self.filled(recipient)
        return text if complete else None

    def filled(self, recipient: str) -> tuple[str, bool]:
        """The text with each `${name}` that has a value for him filled in (his own, else the
        default), and whether every parameter had one."""
        key = msisdn_key(recipient)
        missing = False

        def value(match: re.Match[str]) -> str:
            nonlocal missing
            values = self.parameters.get(match.group(1))
            if values is None:  # not a parameter: Sinch leaves the text alone
                return match.group(0)
            for who, val in values.items():
                if who != DEFAULT_KEY and msisdn_key(who) == key:
                    return val
            if DEFAULT_KEY in values:
                return values[DEFAULT_KEY]
            missing = True
            return match.group(0)

        return PARAMETER.sub(value, self.text), not missing


def msisdn_key(msisdn: str) -> str:
    """Recipients are the same with or without the leading '+'."""
    return msisdn.removeprefix("+")


def _format(text: str) -> ApiError:
    return ApiError(400, "syntax_invalid_parameter_format", text)


def _constraint(text: str) -> ApiError:
    return ApiError(400, "syntax_constraint_violation", text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_batch_request(data: Any, now: datetime) -> BatchRequest:
    if not isinstance(data, dict):
        raise ApiError(400, "syntax_invalid_json", "The request body must be a JSON object")
    kind = data.get("type", "mt_text")
    if kind == "mt_binary":
        raise _constraint("mt_binary is not supported by the simulator")
    if kind not in ("mt_text", "mt_media"):
        raise _format(f"'{kind}' is not a valid batch type")

    to = _recipients(data.get("to"))
    echo: dict[str, Any] = {"to": data["to"], "from": _sender(data.get("from")), "type": kind}
    if kind == "mt_text":
        text, media_url = _text_body(data.get("body")), None
        echo["body"] = text
    else:
        text, media_url, echo["body"] = _media_body(data.get("body"))
    parameters = _parameters(data.get("parameters"))
    if parameters:
        echo["parameters"] = parameters
    delivery_report, callback_url = _reporting(data.get("delivery_report", "none"), data.get("callback_url"))
    echo["delivery_report"] = delivery_report
    if callback_url is not None:
        echo["callback_url"] = callback_url
    client_reference = _client_reference(data.get("client_reference"))
    if client_reference is not None:
        echo["client_reference"] = client_reference
    send_at, expire_at = _schedule(data.get("send_at"), data.get("expire_at"), now)
    if send_at is not None:
        echo["send_at"] = iso(send_at)
    echo["expire_at"] = iso(expire_at)
    echo.update(_options(kind, data))

    # Checked last: Sinch reports a forbidden request only once its syntax is valid.
    if delivery_report != "none" and callback_url is None:
        raise ApiError(
            403,
            "missing_callback_url",
            "A delivery report was requested but no callback URL is given or provisioned",
        )
    return BatchRequest(
        type=kind,
        to=to,
        text=text,
        media_url=media_url,
        parameters=parameters,
        delivery_report=delivery_report,
        callback_url=callback_url,
        client_reference=client_reference,
        send_at=send_at,
        expire_at=expire_at,
        max_parts=echo.get("max_number_of_message_parts"),
        truncate_concat=bool(echo.get("truncate_concat", False)),
        echo=echo,
    )


def _sender(sender: Any) -> str:
    if sender is None or sender == "":
        raise _constraint("from is required: no default originator is configured")
    if not isinstance(sender, str) or not SENDER.match(sender):
        raise _format(f"'{sender}' is not a valid originator")
    return sender


def _reporting(delivery_report: Any, callback_url: Any) -> tuple[str, str | None]:
    if delivery_report not in DELIVERY_REPORTS:
        raise _format(f"'{delivery_report}' is not a valid delivery_report")
    if callback_url is not None and (not is_http_url(callback_url) or len(callback_url) > MAX_CALLBACK_URL):
        raise _format(f"callback_url must be an http(s) URL of at most {MAX_CALLBACK_URL} characters")
    return delivery_report, callback_url


def _client_reference(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _format("client_reference must be a string")
    if value is not None and len(value) > MAX_CLIENT_REFERENCE:
        raise _constraint(f"client_reference must be at most {MAX_CLIENT_REFERENCE} characters")
    return value


def _options(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The optional flags and numbers each batch type takes (others are ignored, not echoed)."""
    flags: tuple[str, ...] = ("feedback_enabled", "strict_validation")
    numbers: dict[str, tuple[int, int]] = {}
    if kind == "mt_text":
        flags = ("feedback_enabled", "flash_message", "truncate_concat")
        numbers = {"max_number_of_message_parts": (1, 255), "from_ton": (0, 6), "from_npi": (0, 18)}
    options: dict[str, Any] = {"flash_message": False} if kind == "mt_text" else {}
    for name in flags:
        if name in data:
            if not isinstance(data[name], bool):
                raise _format(f"{name} must be a boolean")
            options[name] = data[name]
    for name, (low, high) in numbers.items():
        if name in data:
            if not _is_int(data[name]) or not low <= data[name] <= high:
                raise _format(f"{name} must be an integer from {low} to {high}")
            options[name] = data[name]
    return options


def _recipients(to: Any) -> tuple[str, ...]:
    if to is None:
        raise _constraint("to is required")
    if not isinstance(to, list):
        raise _format("to must be an array of MSISDNs")
    if not 1 <= len(to) <= MAX_RECIPIENTS:
        raise _constraint(f"to must hold 1 to {MAX_RECIPIENTS} recipients")
    # Sinch's documents do not say what a number listed twice gets; here it is one recipient (one
    # message, one report), the first spelling kept, with or without "+".
    unique: dict[str, str] = {}
    for recipient in to:
        if not isinstance(recipient, str) or not MSISDN.match(recipient):
            raise _format(f"'{recipient}' is not a valid MSISDN")
        unique.setdefault(msisdn_key(recipient), recipient)
    return tuple(unique.values())


def _text_body(body: Any) -> str:
    if body is None:
        raise _constraint("body is required")
    if not isinstance(body, str):
        raise _format("body must be a string for mt_text")
    if not body:
        raise _constraint("body must not be empty")
    if len(body) > MAX_TEXT:
        raise _constraint(f"body must be at most {MAX_TEXT} characters")
    return body


def _media_body(body: Any) -> tuple[str, str, dict[str, Any]]:
    if body is None:
        raise _constraint("body is required")
    if not isinstance(body, dict):
        raise _format("body must be an object with url, message and subject for mt_media")
    url = body.get("url")
    if url is None:
        raise _constraint("body.url is required: text only media messages are rejected, use SMS instead")
    if not is_http_url(url):
        raise _format(f"'{url}' is not a valid media URL")
    echo: dict[str, Any] = {"url": url}
    for name, limit in (("message", MAX_MEDIA_TEXT), ("subject", MAX_SUBJECT)):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _format(f"body.{name} must be a string")
        if len(value) > limit:
            raise _constraint(f"body.{name} must be at most {limit} characters")
        echo[name] = value
    return echo.get("message", ""), url, echo


def _parameters(value: Any) -> dict[str, dict[str, str]]:
    """`{name: {msisdn or "default": text}}`; a name, key or value out of Sinch's limits is a 400."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(per, dict) and all(isinstance(v, str) for v in per.values()) for per in value.values()
    ):
        raise _format("parameters must map each name to an object of recipient (or 'default') to text")
    for name, per in value.items():
        if not PARAMETER_NAME.match(name):
            raise _format(f"'{name}' is not a valid parameter name: 1 to 16 of A-Z a-z 0-9 . _ -")
        for who, text in per.items():
            if who != DEFAULT_KEY and not MSISDN.match(who):
                raise _format(f"parameter '{name}': '{who}' is neither an MSISDN nor '{DEFAULT_KEY}'")
            if len(text) > MAX_PARAMETER_VALUE:
                raise _constraint(
                    f"parameter '{name}': values must be at most {MAX_PARAMETER_VALUE} characters"
                )
    return value


def _timestamp(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_iso(value)
    except ValueError:
        raise _format(f"{name} must be an ISO-8601 timestamp") from None


def _schedule(send_value: Any, expire_value: Any, now: datetime) -> tuple[datetime | None, datetime]:
    send_at = _timestamp("send_at", send_value)
    expire_at = _timestamp("expire_at", expire_value)
    start = send_at or now
    if expire_at is None:
        return send_at, start + MAX_VALIDITY
    if expire_at <= start:
        raise _constraint("expire_at must be after send_at")
    if expire_at > start + MAX_VALIDITY:
        raise _constraint("expire_at must be at most 3 days after send_at")
    return send_at, expire_at
