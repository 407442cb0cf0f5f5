"""Status callbacks to the caller: what is POSTed to a message's statusCallbackUrl
on each status change, and how it is signed.

`X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed with the
tenant's callback secret. A receiver recomputes v1 over the bytes it received and compares in
constant time, and refuses a `t` too far from its clock (docs/status-callbacks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.message import MessageRecord
from sinch_gateway.domain.status import Status

SIGNATURE_HEADER = "X-Gateway-Signature"


def ascii_json(model: BaseModel) -> str:
    """`model` as compact JSON in ASCII: every other character as a \\uXXXX escape. SQS refuses
    U+FFFE, U+FFFF, lone surrogates and most control characters in a body; escaped, a
    clientReference holding them reaches the queue and the caller as it was given."""
    return json.dumps(model.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":"))


class StatusCallback(BaseModel):
    """The callback's body: every key always present (null when there is nothing to say)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    id: str
    status: Status
    previous_status: Status | None = Field(description="null for the status a message is created with")
    at: datetime
    code: int | str | None = None
    client_reference: str | None = None

    def body(self) -> bytes:
        return ascii_json(self).encode()


class QueuedCallback(BaseModel):
    """What waits on the callback queue: where to POST, for whom (whose secret signs), and what."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    url: str
    tenant_id: str
    callback: StatusCallback

    @property
    def deduplication_id(self) -> str:
        # A status is reached at most once per message (statuses only move forward).
        return f"{self.callback.id}:{self.callback.status}"

    @property
    def receiver(self) -> str:
        """Whose health decides whether this callback is tried now: the tenant's receiver, by
        origin ("https://hooks.example.com:443"), so that one tenant's failing host never holds
        another tenant's callbacks, even to the same host."""
        return f"{self.tenant_id}#{origin(self.url)}"

    def queue_body(self) -> str:
        return ascii_json(self)

    @classmethod
    def from_queue_body(cls, body: str) -> Self:
        """Read back what queue_body wrote. Via json.loads: pydantic's own JSON parser refuses
        the escape of a lone surrogate."""
        return cls.model_validate(json.loads(body))


def origin(url: str) -> str:
    """scheme://host:port of a URL, lower case, the port always written: one receiver."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme, 0)
    host = (parts.hostname or "").lower()
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Gateway-Signature value for `body`, sent at `timestamp` (unix seconds)."""
    return signatures([secret], body, timestamp)


def signatures(secrets: Sequence[str], body: bytes, timestamp: int) -> str:
    """The same with one `v1=` per secret, in order: while a tenant's rotated secret is in its
    grace, receivers still holding the old one verify with it (docs/status-callbacks.md)."""
    message = f"{timestamp}.".encode() + body
    digests = (hmac.new(s.encode(), message, hashlib.sha256).hexdigest() for s in secrets)
    return ",".join([f"t={timestamp}", *(f"v1={d}" for d in digests)])


def status_change(old: MessageRecord | None, new: MessageRecord) -> QueuedCallback | None:
    """The callback one write of a message calls for: None unless the message has a callback URL
    and this write changed its status (a retry repeating `retrying`, a stale report's event or a
    batch id is no change)."""
    if new.status_callback_url is None or (old is not None and old.status == new.status):
        return None
    event = next((e for e in reversed(new.events) if e.status == new.status and not e.stale), None)
    return QueuedCallback(
        url=new.status_callback_url,
        tenant_id=new.tenant_id,
        callback=StatusCallback(
            id=new.id,
            status=new.status,
            previous_status=old.status if old is not None else None,
            at=event.at if event is not None else new.updated_at,
            code=event.code if event is not None else None,
            client_reference=new.client_reference,
        ),
    )


@dataclass(frozen=True)
class ReceiverHealth:
    """What the gateway knows of one tenant's receiver (QueuedCallback.receiver), shared by every
    CallbackFunction: its failures in a row, how often it was held since it last took a callback,
    and while it is held, until when (epoch seconds) no callback is POSTed to it."""

    failures: int = 0
    holds: int = 0
    held_until: float | None = None

    @property
    def known_failing(self) -> bool:
        return bool(self.failures or self.holds or self.held_until is not None)
