"""Inbound SMS and MMS on request (POST /_sim/inbound): the MO (`mo_text`, or `mo_media` with
media) a handset's text to one of our numbers becomes, delivered to the service plan's inbound
callback URL, signed and retried as Sinch does its XMS callbacks."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Any

from .callbacks import CallbackSender
from .common import Response, iso, new_ulid, utcnow
from .store import BatchStore
from .validation import MSISDN, SENDER

MAX_BODY_CHARS = 2000  # Sinch's limit for an MO's body
MAX_MEDIA = 10
_FIELDS = {"from", "to", "body", "media"}


def _media_items(urls: Any) -> list[dict[str, Any]]:
    """An MMS's files as Sinch lists them in an mo_media, uploaded, typed by their names."""
    if not isinstance(urls, list) or not 1 <= len(urls) <= MAX_MEDIA:
        raise ValueError(f"media must be a list of 1 to {MAX_MEDIA} URLs")
    items = []
    for url in urls:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError("each media item must be an http(s) URL")
        content_type = mimetypes.guess_type(url)[0] or "application/octet-stream"
        items.append({"url": url, "content_type": content_type, "status": "Uploaded", "code": 0})
    return items


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
        if not isinstance(request, dict) or not {"from", "to", "body"} <= set(request) <= _FIELDS:
            raise ValueError(
                'the body must be {"from": "+1...", "to": "<our number>", "body": "..."}, with "media": '
                '["https://..."] for an MMS'
            )
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
        if "media" in request:
            mo.update(type="mo_media", body={"message": text, "media": _media_items(request["media"])})
        reference = self._store.latest_reference(number, handset)
        if reference is not None:
            mo["client_reference"] = reference
        self._callbacks.send(url, [mo])
        return Response(202, mo)
