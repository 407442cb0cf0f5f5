"""What the sending use cases hand back to whoever asked (the API, the queue reader): domain
results, which the API turns into HTTP answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sinch_gateway.domain.content import Api, Channel
from sinch_gateway.domain.message import MessageRecord
from sinch_gateway.domain.outcomes import AuthFailed, Refused


@dataclass(frozen=True)
class Sent:
    """Recorded and on its way: handed to Sinch, waiting for a retry or until due (or found
    recorded already, under an id that came twice)."""

    message: MessageRecord


@dataclass(frozen=True)
class Ended:
    """Recorded, and ended at its first attempt (rejected or failed). `by`: Sinch's answer that
    ended it; None when the gateway gave up without one (Sinch could not be reached)."""

    message: MessageRecord
    by: Refused | AuthFailed | None = None


SendResult = Sent | Ended


@dataclass(frozen=True)
class PreviewRecipient:
    """What one recipient would get: an SMS's parts, encoding and body as Sinch counts them."""

    to: str
    segments: int | None = None
    encoding: Literal["GSM", "UNICODE"] | None = None
    body: str | None = None


@dataclass(frozen=True)
class Preview:
    """What Sinch would send for a message (a dry run): nothing was sent or recorded."""

    channel: Channel
    api: Api
    number_of_messages: int  # what Sinch would bill
    recipients: tuple[PreviewRecipient, ...]
