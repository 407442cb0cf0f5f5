"""The stored message: one DynamoDB item per message, with its content and status events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.content import Api, Channel, MessageContent, api_of, channel_of
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status, Transition


def utcnow() -> datetime:
    return datetime.now(UTC)


def sortable_time(at: datetime) -> str:
    """`at` in UTC in one fixed form, so that text order is time order (where DynamoDB compares
    times, as text): pydantic writes a whole second as "…:05Z", after its own fractions
    ("…:05.2Z"), and strftime's %Y writes year 999 as "999". A time whose UTC lies past the
    calendar's edge (9999-12-31T23:59:59-23:59) is that edge."""
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        utc = (datetime.max if at.year > 1 else datetime.min).replace(tzinfo=UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# A message's DynamoDB item never holds more than ITEM_BOUND_BYTES, under DynamoDB's 400 KB: what
# it is admitted with is bounded by the API's limits (at most about 215 KB: a rich MMS of 8 slides
# of 5,000 characters), and what it gathers while it lives (at most about 90 KB) by these
# (docs/statuses.md, "How big a message gets"; tests/unit/test_message_item_bound.py computes
# the largest item):
# - free texts, whoever wrote them (Sinch's codes and texts, our retry reasons), in characters;
MAX_STORED_CODE_CHARS = 64
MAX_EVENT_DETAIL_CHARS = 256
MAX_STORED_ERROR_CHARS = 1000
# - events: a retry's (which repeats `retrying`) and a stale report's are kept only while the
#   message holds fewer than MAX_EVENTS; a status move is always kept, and a message makes at
#   most STATUS_MOVES of them past `retrying` (submitted, queued, dispatched, one final status),
#   so it holds at most MAX_EVENTS + STATUS_MOVES events. An event that repeats the one before
#   it folds into it instead (see `placement`), so a message retried for a day holds a few.
MAX_EVENTS = 50
STATUS_MOVES = 4
ITEM_BOUND_BYTES = 320 * 1024
# The longest Sinch keeps trying to deliver a message, from when it is to be sent (XMS's
# expire_at, the MMS JSON API's mms-expiry-timestamp): also their default.
SINCH_VALIDITY = timedelta(days=3)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def storable(text: str) -> str:
    """`text` with any lone surrogate written out as the escape it came as ("\\ud800"): what
    we keep or log of an input we refused must not fail to encode."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _clip_code(code: int | str | None) -> int | str | None:
    return clip(code, MAX_STORED_CODE_CHARS) if isinstance(code, str) else code


def _clipping(limit: int) -> AfterValidator:
    return AfterValidator(lambda text: clip(text, limit) if text is not None else None)


Code = Annotated[int | str | None, AfterValidator(_clip_code)]


class _Stored(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


def _absent(value: object) -> bool:
    return value is None


class StatusEvent(_Stored):
    """One thing that happened to a message. It says only what happened: a value it does not
    have is left out (no "code": null on our own events), in storage and in the API alike."""

    status: Status
    at: datetime
    code: Code = Field(
        default=None, exclude_if=_absent, description="Sinch's code for this status, or the gateway's own"
    )
    detail: Annotated[str | None, _clipping(MAX_EVENT_DETAIL_CHARS)] = Field(
        default=None, exclude_if=_absent, description="What happened, in words (at most 256 characters)"
    )
    operator_at: datetime | None = Field(
        default=None,
        exclude_if=_absent,
        description="When the operator reported this status (Sinch's operator_status_at)",
    )
    stale: bool | None = Field(
        default=None,
        exclude_if=_absent,
        description="True for a delivery report that came after a later or equal status "
        "(duplicate, late or out of order): kept here, but it did not change the status",
    )
    count: int | None = Field(
        default=None,
        ge=2,
        exclude_if=_absent,
        description="How many times this event happened in a row, when more than once (the same "
        "status and code: a run of retries for one reason, one report sent again and again); "
        "`at` is the first time, `lastAt` the last",
    )
    last_at: datetime | None = Field(
        default=None, exclude_if=_absent, description="When it last happened, with `count`"
    )

    def repeats(self, earlier: StatusEvent) -> bool:
        """Whether this event says again what `earlier` said: then it folds into it."""
        return (self.status, self.code, bool(self.stale)) == (
            earlier.status,
            earlier.code,
            bool(earlier.stale),
        )

    def folded_into(self, earlier: StatusEvent) -> StatusEvent:
        return earlier.model_copy(update={"count": (earlier.count or 1) + 1, "last_at": self.at})


class Placement(Enum):
    """Where an event that may repeat goes (a retry's, a stale report's)."""

    FOLD = "fold"  # into the last event, which it repeats
    APPEND = "append"
    NOWHERE = "nowhere"  # not kept: the message holds MAX_EVENTS events already


def placement(events: Sequence[StatusEvent], event: StatusEvent) -> Placement:
    if events and event.repeats(events[-1]):
        return Placement.FOLD
    return Placement.APPEND if len(events) < MAX_EVENTS else Placement.NOWHERE


def compacted(events: Sequence[StatusEvent]) -> list[StatusEvent]:
    """`events` as these rules would have kept them (for a message that gathered them before):
    each run of repeats folded into one, and past MAX_EVENTS only the status moves."""
    folded: list[StatusEvent] = []
    for event in events:
        if folded and event.repeats(folded[-1]):
            last = folded[-1]
            count = (last.count or 1) + (event.count or 1)
            folded[-1] = last.model_copy(update={"count": count, "last_at": event.last_at or event.at})
        else:
            folded.append(event)
    moves = [e for e in folded[MAX_EVENTS:] if e.status not in SENDABLE_STATUSES and not e.stale]
    return folded[:MAX_EVENTS] + moves


class MessageDraft(_Stored):
    """A message that passed every check, before it is recorded."""

    to: str
    content: MessageContent
    client_reference: str | None = None
    send_at: datetime | None = None
    expire_at: datetime | None = None  # None: SINCH_VALIDITY after acceptance, or after send_at
    status_callback_url: str | None = None


class MessageRecord(_Stored):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    tenant_id: str = Field(min_length=1, description="The API key id the message belongs to")
    to: str
    content: MessageContent
    sender: str | None = None
    client_reference: str | None = None
    send_at: datetime | None = None
    # When Sinch stops trying to deliver it; None only on messages recorded before it was kept.
    expire_at: datetime | None = None
    # Where Sinch reports on it (our webhook). Stored as callbackUrl, Sinch's word for it, so that
    # messages recorded before the field had this name still get their reports.
    webhook_url: str | None = Field(default=None, alias="callbackUrl")
    status_callback_url: str | None = None  # where we report its status changes (the caller's)
    # Sinch's id for what it accepted: XMS batch id or MMS tracking id. Stored as batchId, its name
    # before the gateway had batches of its own, so that messages recorded earlier keep it.
    sinch_id: str | None = Field(default=None, alias="batchId")
    batch_id: str | None = Field(default=None, alias="gatewayBatchId")  # our batch it belongs to, if any
    # The client_reference of the last call that carried it, when that call was for several of its
    # batch's recipients (a call for one message is named by the message's id): an answer lost,
    # the call is looked up at Sinch by it before the message is sent again.
    call_reference: str | None = None
    status: Status = Status.ACCEPTED
    attempts: int = 0
    error_code: Annotated[str | None, _clipping(MAX_STORED_CODE_CHARS)] = None
    error_text: Annotated[str | None, _clipping(MAX_STORED_ERROR_CHARS)] = None
    sinch_http_status: int | None = None
    segments: int | None = None
    encoding: Literal["GSM", "UNICODE"] | None = None
    delivered_as: Channel | None = None  # set when Sinch delivered an MMS as its fallback SMS
    # An answer was lost after the request reached Sinch: it may hold the message.
    unconfirmed: bool = False
    events: list[StatusEvent] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    ttl: int | None = None

    @property
    def channel(self) -> Channel:
        return channel_of(self.content)

    @property
    def api(self) -> Api:
        return api_of(self.content)

    @property
    def expires_at(self) -> datetime:
        """When Sinch stops trying: as asked, or SINCH_VALIDITY after it was due."""
        return self.expire_at or (self.send_at or self.created_at) + SINCH_VALIDITY

    def expire_after(self, days: int) -> MessageRecord:
        return self.model_copy(update={"ttl": int((self.created_at + timedelta(days=days)).timestamp())})


@dataclass(frozen=True)
class Change:
    """What a status write sets on the message besides its status and event; None leaves a field
    as it is. Named as MessageRecord's fields: how they are stored is the store's business."""

    sinch_id: str | None = None
    error_code: str | None = None
    error_text: str | None = None
    clear_error: bool = False  # what kept it waiting (a retry's error) is over
    sinch_http_status: int | None = None
    attempts: int | None = None
    unconfirmed: bool | None = None
    delivered_as: Channel | None = None

    def values(self) -> dict[str, Any]:
        """The fields it sets (MessageRecord's names), each free text clipped to its bound."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "clear_error"}
        if self.error_code is not None:
            values["error_code"] = clip(self.error_code, MAX_STORED_CODE_CHARS)
        if self.error_text is not None:
            values["error_text"] = clip(self.error_text, MAX_STORED_ERROR_CHARS)
        return {name: value for name, value in values.items() if value is not None}

    @property
    def cleared(self) -> tuple[str, ...]:
        """The fields it removes (MessageRecord's names)."""
        return ("error_code", "error_text") if self.clear_error else ()


UNCHANGED = Change()


@dataclass(frozen=True)
class Advanced:
    """What a status write did; the message as it now stands when that write made it final
    (whose tenant and age the final-status metrics need)."""

    transition: Transition
    final: MessageRecord | None = None
