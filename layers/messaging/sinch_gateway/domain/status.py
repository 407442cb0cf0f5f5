"""The message status machine: statuses only move forward, and a final status is final."""

from __future__ import annotations

from enum import Enum, StrEnum


class Transition(Enum):
    """What a conditional status write did."""

    MOVED = "moved"
    STALE = "stale"  # the message is already at this status or further on
    MISSING = "missing"  # no such message
    REPLAYED = "replayed"  # the message already took a report signed with this nonce


class Status(StrEnum):
    ACCEPTED = "accepted"
    RETRYING = "retrying"
    SUBMITTED = "submitted"
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ABORTED = "aborted"
    DELETED = "deleted"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_final(self) -> bool:
        return self.rank == FINAL_RANK


FINAL_RANK = 100
_RANK: dict[Status, int] = {
    Status.ACCEPTED: 0,
    Status.RETRYING: 10,
    Status.SUBMITTED: 20,
    Status.QUEUED: 30,
    Status.DISPATCHED: 40,
    **{
        s: FINAL_RANK
        for s in (
            Status.DELIVERED,
            Status.FAILED,
            Status.EXPIRED,
            Status.REJECTED,
            Status.CANCELLED,
            Status.ABORTED,
            Status.DELETED,
        )
    },
}
FINAL_STATUSES = frozenset(s for s in Status if s.is_final)
# Statuses in which nobody has handed the message to Sinch yet, so a sender may claim it.
SENDABLE_STATUSES = frozenset({Status.ACCEPTED, Status.RETRYING})

# Sinch's delivery statuses (Capitalised on the wire). Sinch's "Unknown" is final there too; we
# have no such status, and a message whose fate is unknown was not delivered.
_FROM_SINCH = {
    "Queued": Status.QUEUED,
    "Dispatched": Status.DISPATCHED,
    "Delivered": Status.DELIVERED,
    "Failed": Status.FAILED,
    "Expired": Status.EXPIRED,
    "Rejected": Status.REJECTED,
    "Cancelled": Status.CANCELLED,
    "Aborted": Status.ABORTED,
    "Deleted": Status.DELETED,
    "Unknown": Status.FAILED,
}


def from_sinch(status: str) -> Status | None:
    return _FROM_SINCH.get(status.capitalize())


def can_move(current: Status, new: Status) -> bool:
    return new.rank > current.rank
