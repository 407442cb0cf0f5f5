"""Inbound SMS on request (POST /_sim/inbound): the MO (`mo_text`) a handset's text to one of our
numbers becomes, delivered to the service plan's inbound callback URL, signed and retried as
Sinch does its XMS callbacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .callbacks import CallbackSender
from .common import Response, iso, new_ulid, utcnow
from .store import BatchStore
from .validation import MSISDN, SENDER

MAX_BODY_CHARS = 2000  # Sinch's limit for an MO's body


class InboundSender:
    def __init__(
        self, store: BatchStore, callbacks: CallbackSender, inbound_url: Callable[[], str | None]
    ) -> None:
        self._store = store
        self._callbacks = callbacks
        self._inbound_url = inbound_url

    def deliver(self, request: Any) -> Response:
        """`{"from": "+1...", "to": "<our number>", "body": "STOP"}` -> 202 with the MO sent."""
        url = self._inbound_url()
        if url is None:
            raise ValueError('no inbound_url is configured (POST /_sim/config {"inbound_url": ...})')
        if not isinstance(request, dict) or set(request) != {"from", "to", "body"}:
            raise ValueError('the body must be {"from": "+1...", "to": "<our number>", "body": "..."}')
        handset, number, text = request["from"], request["to"], request["body"]
        if not isinstance(handset, str) or not MSISDN.match(handset):
            raise ValueError("from must be a phone number with its country code")
        if not isinstance(number, str) or not SENDER.match(number) or not number.lstrip("+").isdigit():
            raise ValueError("to must be our number or short code")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_BODY_CHARS:
            raise ValueError(f"body must be text of 1 to {MAX_BODY_CHARS} characters")
        mo: dict[str, Any] = {
            "type": "mo_text",
            "id": new_ulid(),
            "from": "+" + handset.removeprefix("+"),
            "to": number.removeprefix("+"),  # Sinch writes our number without its +
            "body": text,
            "received_at": iso(utcnow()),
        }
        reference = self._store.latest_reference(number, handset)
        if reference is not None:
            mo["client_reference"] = reference
        self._callbacks.send(url, [mo])
        return Response(202, mo)
