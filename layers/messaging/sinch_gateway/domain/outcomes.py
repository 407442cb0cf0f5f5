"""What a Sinch channel hands back: the same typed outcomes whichever API it speaks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from sinch_gateway.domain.content import MessageContent
from sinch_gateway.domain.reports import StatusReport


@dataclass(frozen=True)
class OutboundMessage:
    """One message as a channel sends it. `reference` (our message id) goes to Sinch as its
    client reference, so reports and lookups find the message without a scan."""

    reference: str
    to: str
    content: MessageContent
    webhook_url: str = ""  # empty: no delivery reports (a dry run)
    send_at: datetime | None = None
    expire_at: datetime | None = None  # when Sinch is to stop trying


@dataclass(frozen=True)
class OutboundBatch:
    """One XMS call for several recipients of a batch: `content` with its `${name}` placeholders,
    filled in by Sinch from `parameters` ({name: {number or "default": value}}). `reference` names
    the call (domain.fan_out.call_reference)."""

    reference: str
    recipients: tuple[str, ...]
    content: MessageContent
    parameters: Mapping[str, Mapping[str, str]]
    webhook_url: str
    send_at: datetime | None = None
    expire_at: datetime | None = None


@dataclass(frozen=True)
class Accepted:
    """Sinch has the message. `sinch_id`: the XMS batch id or the MMS JSON API's tracking id."""

    sinch_id: str


@dataclass(frozen=True)
class Transient:
    """Worth trying again later.

    `ambiguous`: Sinch may have accepted the message anyway (its answer was lost).
    `rate_limited`: Sinch said "slower", which uses up no attempt.
    """

    reason: str
    retry_after_s: float | None = None
    ambiguous: bool = False
    rate_limited: bool = False


@dataclass(frozen=True)
class NotFound:
    """Sinch holds nothing for the reference."""


@dataclass(frozen=True)
class CannotLookUp:
    """The API offers no lookup by our reference: only its reports can tell what it holds."""


class Refusal(StrEnum):
    """What a refusal for good says is wrong, judged once by the channel that heard it."""

    MESSAGE = "message"  # the message itself (its numbers, text, slides, media)
    FORBIDDEN = "forbidden"  # Sinch will not send it for this account
    SETUP = "setup"  # our own setup, as Sinch sees it (plan, path, format, service)


@dataclass(frozen=True)
class Refused:
    """Sinch refused the request for good. `http_status` and `code` are Sinch's own; `refusal`
    what they mean."""

    http_status: int
    code: str
    text: str
    refusal: Refusal


@dataclass(frozen=True)
class AuthFailed:
    """Sinch refused our credentials, also after they were read again."""

    detail: str
    http_status: int = 401
    code: str = "unauthorized"


@dataclass(frozen=True)
class Answered:
    """A successful answer, with its JSON body."""

    data: Any


@dataclass(frozen=True)
class NotOffered:
    """The API has no such operation (a dry run on the MMS JSON API)."""


# Sinch's dry-run answer, read with pydantic: any other shape is no answer.
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


CallOutcome = Answered | Transient | Refused | AuthFailed
SendOutcome = Accepted | Transient | Refused | AuthFailed
LookupOutcome = Accepted | NotFound | CannotLookUp | Transient | Refused | AuthFailed
DryRunOutcome = DryRun | NotOffered | Transient | Refused | AuthFailed
# What Sinch says of one recipient of what it accepted, when asked instead of waiting for its report.
ReportOutcome = StatusReport | NotFound | CannotLookUp | Transient | Refused | AuthFailed
