"""A batch: one request for many recipients, each of whom becomes a message of its own.

The API records the batch and its recipients' slices (SendQueue bodies of at most
`MAX_SLICE_RECIPIENTS`); the queue function fans each slice out into messages and hands them to
Sinch, up to `MAX_SINCH_RECIPIENTS` per XMS call, as fast as the tenant's share of the rate allows.
A recipient's message id is derived from the batch and the number, so a slice delivered twice
finds the messages it made, and a per-recipient delivery report finds its message.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sinch_gateway.domain.content import MessageContent
from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.rate_share import Turn
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status

MAX_RECIPIENTS = 10_000  # per batch request
MAX_SINCH_RECIPIENTS = 1_000  # per XMS /batches call (Sinch's limit on `to`)
MAX_SLICE_RECIPIENTS = MAX_SINCH_RECIPIENTS  # per SendQueue body
# A slice's recipients, as JSON, at most this many characters (a SendQueue body is ASCII, every
# other character escaped): SQS takes a body of at most 256 KiB, and the rest of it is small.
MAX_SLICE_CHARS = 200 * 1024
# Sinch's parameter names: letters, digits, '.', '_', '-', at most 16; values at most 160 characters.
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,16}$")
MAX_PARAMETER_VALUE_CHARS = 160
DEFAULT_KEY = "default"  # the value of a parameter for recipients it names no value for
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9._-]{1,16})\}")
_RECIPIENT_NAMESPACE = uuid.UUID("0d1c6f1e-58a3-4d7e-9a52-2f3b8f0b6c41")


class BatchStatus(StrEnum):
    ACCEPTED = "accepted"  # recorded; no recipient handed to Sinch yet
    SENDING = "sending"  # some recipients handed over, some not yet
    DONE = "done"  # every recipient handed over (or ended before)
    CANCELLED = "cancelled"  # cancelled: recipients not yet handed over never will be


class RefusalType(StrEnum):
    """Why a recipient of a batch request was left out (the rest still go)."""

    MALFORMED = "malformed"
    NOT_ALLOWED = "not_allowed"  # the tenant's policy does not allow its country
    OPTED_OUT = "opted_out"
    DUPLICATE = "duplicate"  # the same number (as E.164) named earlier in `to`
    MISSING_PARAMETER = "missing_parameter"  # a placeholder with no value for it and no default
    TOO_MANY_PARTS = "too_many_parts"  # its text, parameters filled, needs more parts than maxParts


@dataclass(frozen=True)
class Refusal:
    to: str  # as sent
    type: RefusalType
    detail: str


def recipient_message_id(batch_id: str, to: str) -> str:
    """The id of the message for recipient `to` (E.164) of batch `batch_id`."""
    return str(uuid.uuid5(_RECIPIENT_NAMESPACE, f"{batch_id}\n{to}"))


Parameters = Mapping[str, Mapping[str, str]]  # name -> {E.164 number or "default": value}


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def fill(text: str, parameters: Parameters, to: str) -> str:
    """`text` as recipient `to` gets it: each `${name}` replaced by the recipient's value, or the
    default. A placeholder with neither is left as it is (Sinch aborts such a recipient with code
    405; admission refuses it first)."""

    def value(match: re.Match[str]) -> str:
        values = parameters.get(match.group(1))
        if values is None:
            return match.group(0)
        return values.get(to, values.get(DEFAULT_KEY, match.group(0)))

    return _PLACEHOLDER.sub(value, text)


@dataclass(frozen=True)
class SliceRecipient:
    to: str  # E.164
    values: Mapping[str, str] = field(default_factory=dict)  # its own parameter values, by name

    def message_id(self, batch_id: str) -> str:
        return recipient_message_id(batch_id, self.to)


def slice_weight(recipient: SliceRecipient) -> int:
    """The characters `recipient` takes in a SendQueue body (as data/send_queue.py writes it)."""
    entry: dict[str, object] = {"to": recipient.to}
    if recipient.values:
        entry["values"] = dict(recipient.values)
    return len(json.dumps(entry)) + 2  # and its ", "


def slices(
    batch_id: str,
    tenant_id: str,
    recipients: Sequence[SliceRecipient],
    *,
    max_recipients: int = MAX_SLICE_RECIPIENTS,
    max_chars: int = MAX_SLICE_CHARS,
) -> list[BatchSlice]:
    """The recipients in order, cut into slices of at most `max_recipients` and `max_chars`."""
    cut: list[BatchSlice] = []
    current: list[SliceRecipient] = []
    chars = 0
    for recipient in recipients:
        weight = slice_weight(recipient)
        if current and (len(current) == max_recipients or chars + weight > max_chars):
            cut.append(BatchSlice(batch_id, tenant_id, len(cut), tuple(current)))
            current, chars = [], 0
        current.append(recipient)
        chars += weight
    if current:
        cut.append(BatchSlice(batch_id, tenant_id, len(cut), tuple(current)))
    return cut


@dataclass(frozen=True)
class BatchSlice:
    """Up to MAX_SLICE_RECIPIENTS recipients of a batch, as one SendQueue body: the queue function
    makes their messages and hands them to Sinch. `turn`: the place a slice put back to wait for
    the rest of its recipients keeps in its tenant's share of the rate."""

    batch_id: str
    tenant_id: str
    index: int  # its place among the batch's slices, from 0
    recipients: tuple[SliceRecipient, ...]
    turn: Turn | None = None


@dataclass(frozen=True)
class BatchRecord:
    """A batch as recorded: what each recipient gets (the text with its `${name}` placeholders, and
    each parameter's default; a recipient's own values travel in its slice), and how far it got."""

    id: str
    tenant_id: str
    content: MessageContent  # as admission made it, one for every recipient
    recipients: int  # taken (refused ones are not counted)
    refused: int
    slices: int
    webhook_url: str  # where Sinch reports on its messages
    defaults: Mapping[str, str] = field(default_factory=dict)  # each parameter's "default" value
    status: BatchStatus = BatchStatus.ACCEPTED
    client_reference: str | None = None
    send_at: datetime | None = None
    expire_at: datetime | None = None
    status_callback_url: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class BatchAccepted:
    """Recorded, its slices queued: `batch` as it stands, and who was left out."""

    batch: BatchRecord
    refused: tuple[Refusal, ...]


@dataclass(frozen=True)
class BatchRefused:
    """Every recipient refused: nothing recorded, nothing queued."""

    refused: tuple[Refusal, ...]


BatchResult = BatchAccepted | BatchRefused


def recipient_counts(recipients: int, messages: Mapping[Status, int]) -> dict[Status, int]:
    """Recipients per status: those whose message the fan-out has not made yet are accepted."""
    counts = {status: n for status, n in messages.items() if n}
    unmade = recipients - sum(counts.values())
    if unmade > 0:
        counts[Status.ACCEPTED] = counts.get(Status.ACCEPTED, 0) + unmade
    return counts


def progress(recorded: BatchStatus, counts: Mapping[Status, int]) -> BatchStatus:
    """A batch's status from its recipients' `counts` (recipient_counts): cancelled once
    cancelled; done when none waits to be handed to Sinch; sending once some were."""
    if recorded is BatchStatus.CANCELLED:
        return BatchStatus.CANCELLED
    waiting = sum(n for status, n in counts.items() if status in SENDABLE_STATUSES)
    if waiting == 0:
        return BatchStatus.DONE
    return BatchStatus.SENDING if waiting < sum(counts.values()) else BatchStatus.ACCEPTED
