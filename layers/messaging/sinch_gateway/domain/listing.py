"""Listing a tenant's messages: which ones (a filter) and what a listing shows of each (a summary)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.message import MessageRecord, sortable_time
from sinch_gateway.domain.status import Status


def earlier_time(at: datetime) -> str:
    """sortable_time of the last tick before `at` (`at` itself at the calendar's first tick)."""
    try:
        return sortable_time(at - timedelta(microseconds=1))
    except OverflowError:
        return sortable_time(at)


@dataclass(frozen=True)
class MessageFilter:
    """Which of a tenant's messages a listing shows: all of these that are set.

    `since` is inclusive and `until` exclusive, so that consecutive windows never list a message twice.
    """

    client_reference: str | None = None
    status: Status | None = None
    to: str | None = None  # E.164
    since: datetime | None = None
    until: datetime | None = None
    batch_id: str | None = None  # our batch (POST /v1/batches) they belong to

    def holds(self, created_at: str) -> bool:
        """Whether a creation time, as stored, lies in the window."""
        return (self.since is None or created_at >= sortable_time(self.since)) and (
            self.until is None or created_at < sortable_time(self.until)
        )


class MessageSummary(BaseModel):
    """What a listing shows of a message: enough to pick it out; GET /v1/messages/{id} has the rest."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    id: str
    status: Status
    channel: Channel
    to: str
    client_reference: str | None = None
    segments: int | None = None
    error_code: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, record: MessageRecord) -> MessageSummary:
        return cls(
            id=record.id,
            status=record.status,
            channel=record.channel,
            to=record.to,
            client_reference=record.client_reference,
            segments=record.segments,
            error_code=record.error_code,
            created_at=record.created_at,
        )
