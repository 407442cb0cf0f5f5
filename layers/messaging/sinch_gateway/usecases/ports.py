"""What the use cases need from the world: a Sinch channel, message storage, the queue, tenants,
the kept media.

Each is a Protocol, so the use cases are tested against in-memory fakes and run against the
adapters (sinch/, data/) without knowing which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sinch_gateway.domain.batches import BatchRecord, BatchSlice, BatchStatus
from sinch_gateway.domain.content import Api
from sinch_gateway.domain.message import UNCHANGED, Advanced, Change, MessageRecord, StatusEvent
from sinch_gateway.domain.outcomes import (
    CallOutcome,
    DryRunOutcome,
    LookupOutcome,
    NotOffered,
    OutboundBatch,
    OutboundMessage,
    ReportOutcome,
    SendOutcome,
)
from sinch_gateway.domain.rate_share import Grant, RateShare, Turn, Waiting
from sinch_gateway.domain.status import Status, Transition
from sinch_gateway.domain.status_callbacks import ReceiverHealth
from sinch_gateway.domain.tenants import Tenant, TenantPolicy


class SinchChannel(Protocol):
    """One Sinch API: the send, retry, status and report logic above it is written once."""

    @property
    def api(self) -> Api: ...

    @property
    def settle_s(self) -> float:
        """After an answer was lost, how long to wait before looking again, so that whatever
        Sinch did with the request is visible by then (in a lookup, or in its reports)."""
        ...

    def send(self, message: OutboundMessage) -> SendOutcome: ...

    def find(self, reference: str) -> LookupOutcome: ...

    def cancel(self, sinch_id: str) -> CallOutcome | NotOffered: ...

    def report(self, sinch_id: str, recipient: str) -> ReportOutcome:
        """What Sinch says now of `recipient` in what it accepted as `sinch_id` (XMS's
        per-recipient delivery report); CannotLookUp where the API has no such lookup."""
        ...

    def dry_run(self, message: OutboundMessage) -> DryRunOutcome: ...


class BatchChannel(Protocol):
    """A Sinch API that takes several recipients in one call (XMS), each text filled in from
    `parameters`, and finds a call by its client_reference."""

    @property
    def api(self) -> Api: ...

    @property
    def settle_s(self) -> float: ...

    def send_batch(self, batch: OutboundBatch) -> SendOutcome: ...

    def find(self, reference: str) -> LookupOutcome: ...


class MessageStore(Protocol):
    def create_claimed(self, record: MessageRecord, lease_s: int) -> MessageRecord | None: ...

    def create_all(self, records: Sequence[MessageRecord], lease_s: int | None = None) -> list[MessageRecord]:
        """Store each new message where none with its id exists (claimed for its first attempt when
        `lease_s` is given); the ones stored, as stored. A message that exists is left as it is."""
        ...

    def get_all(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
        """The messages that exist among `message_ids`, by id."""
        ...

    def claim_all(
        self, message_ids: Sequence[str], lease_s: int, call_reference: str | None = None
    ) -> list[MessageRecord]:
        """Claim each message as `claim` does, naming the call it is for (if any); the ones
        claimed, as they stood before (with the reference of the call that carried them last)."""
        ...

    def advance_all(
        self, records: Sequence[MessageRecord], event: StatusEvent, change: Change = UNCHANGED
    ) -> dict[str, Advanced]:
        """`advance` of each message (as read in `records`) to `event`, with `change`."""
        ...

    def create(self, record: MessageRecord) -> bool: ...

    def get(self, message_id: str) -> MessageRecord | None: ...

    def get_for_tenant(self, tenant_id: str, message_id: str) -> MessageRecord | None: ...

    def claim(self, message_id: str, lease_s: int) -> MessageRecord | None: ...

    def transition(
        self,
        message_id: str,
        status: Status,
        *,
        code: int | str | None = None,
        detail: str | None = None,
        at: Any = None,
        seen_events: Sequence[StatusEvent] | None = None,
        change: Change = UNCHANGED,
    ) -> Transition: ...

    def advance(
        self,
        message_id: str,
        event: StatusEvent,
        *,
        once: str | None = None,
        seen_events: Sequence[StatusEvent] | None = None,
        change: Change = UNCHANGED,
    ) -> Advanced: ...

    def append_event(self, message_id: str, event: StatusEvent, *, once: str | None = None) -> bool: ...

    def set_sinch_id(self, message_id: str, sinch_id: str) -> None: ...


class BatchMessages(Protocol):
    """A batch's recipients' messages (those the fan-out made so far), read together."""

    def count_by_status(self, batch_id: str) -> Mapping[Status, int]: ...


class SendRate(Protocol):
    """Sinch's rate, shared by every sender and fairly among tenants (see domain.rate_share)."""

    def acquire(
        self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn | None = None
    ) -> Grant:
        """`calls` calls of the tenant `share` (recipients: what Sinch counts) to the API `key`,
        once they may go (having waited up to `max_wait_s`); or none yet, with the seconds until
        it is worth asking again and the place (`turn`) to come back with. `turn`: the place
        kept from the last time."""
        ...

    def waits(self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn) -> Grant | None:
        """Taking nothing: for a call that kept `turn`, how much longer to wait (a Grant of no
        calls, with the turn to keep), or None once it may ask `acquire` for its slot."""
        ...

    def hold_off(self, key: str, seconds: float) -> None: ...


class RetryQueue(Protocol):
    def enqueue_retry(
        self, message_id: str, delay_s: float, turn: Turn | None = None, waiting: Waiting | None = None
    ) -> None:
        """Send the message again in `delay_s`, keeping its place in the shared rate (`turn`);
        `waiting`: what it asks of the rate then, when it waits for nothing else."""
        ...

    def enqueue_settle(self, message_id: str, delay_s: float) -> None:
        """Check in `delay_s` that the message Sinch accepted has its final status (see
        usecases.settling)."""
        ...

    def enqueue_settle_all(self, message_ids: Sequence[str], delay_s: float) -> None:
        """One check, in `delay_s`, of several messages (those one call handed over)."""
        ...

    def enqueue_slice(self, batch_slice: BatchSlice, delay_s: float = 0.0) -> None:
        """Queue a batch's slice (or what is left of it) for the queue function to send."""
        ...

    def dead_letter(self, body: str, reason: str, message_id: str | None) -> None: ...


class BatchStore(Protocol):
    """Batches as recorded (their recipients' messages are in the MessageStore, each with the
    batch's id)."""

    def create(self, batch: BatchRecord) -> bool:
        """Record a new batch; False when one with its id exists already."""
        ...

    def get(self, batch_id: str) -> BatchRecord | None: ...

    def get_for_tenant(self, tenant_id: str, batch_id: str) -> BatchRecord | None:
        """The batch if it is `tenant_id`'s; None for another tenant's, as for none."""
        ...

    def set_status(self, batch_id: str, status: BatchStatus) -> BatchRecord | None:
        """Move the batch to `status` unless it is cancelled already (a cancel is final); the
        batch as it now stands."""
        ...


class TenantStore(Protocol):
    def get(self, tenant_id: str) -> Tenant | None: ...

    def policy(self, tenant_id: str) -> TenantPolicy: ...


# The number our messages come from (the Sinch secret's); None when it cannot be read now.
SenderNumber = Callable[[], str | None]


class OptOutLookup(Protocol):
    def opted_out(self, recipient: str, sender: str | None) -> bool:
        """Whether `recipient` opted out of messages from `sender` (of any of ours when None)."""
        ...

    def opted_out_all(self, recipients: Sequence[str], sender: str | None) -> frozenset[str]:
        """Which of `recipients` opted out (as `opted_out` says of each), read in bulk."""
        ...


class MediaStore(Protocol):
    """Where checked media is kept, so that Sinch gets exactly the bytes that were checked."""

    def keep(self, body: bytes, content_type: str) -> str:
        """Store the bytes; their key: unguessable, and naming no tenant, number or URL."""
        ...

    def link(self, key: str, expires_in_s: int) -> str:
        """A URL that GETs the kept bytes, with their content type, for `expires_in_s` seconds."""
        ...


class ReceiverHealthStore(Protocol):
    """Each status callback receiver's health, shared by every CallbackFunction container (see
    usecases.callback_breaker). `receiver` is QueuedCallback.receiver; times are epoch seconds."""

    def get(self, receiver: str) -> ReceiverHealth: ...

    def add_failure(self, receiver: str) -> ReceiverHealth:
        """One more failure in a row; the health after it."""
        ...

    def hold(self, receiver: str, until: float, holds: int, now: float, *, unless_held: bool) -> bool:
        """Hold the receiver until `until` (its `holds`th hold, failures back to 0). With
        `unless_held`, only if no hold runs at `now`: False when another container's does."""
        ...

    def claim_probe(self, receiver: str, now: float, until: float) -> bool:
        """Its hold ended by `now`: take the one try that finds out whether it recovered, holding
        every other callback until `until`. False when another container took it first."""
        ...

    def clear(self, receiver: str) -> None:
        """It took a callback: no failures, no hold."""
        ...
