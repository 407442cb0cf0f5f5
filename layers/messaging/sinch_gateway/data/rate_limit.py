"""Sinch's per-service-plan rate, shared by every sender (all SendFunction and QueueFunction
containers) and fairly among the tenants sending, kept in one DynamoDB item per Sinch API.

The plan's schedule is GCRA (the "generic cell rate algorithm", a token bucket stated as a
schedule): `nextSlot` is the epoch second from which the next call to Sinch may go. Beside it the
item keeps share time as it stood at a moment (`shareClock`, `shareClockAt`) and each sending
tenant's line (`line#<tenant>`, with `weight#<tenant>` when it is not 1, and `capNext#<tenant>`,
`capRate#<tenant>` for a capped tenant): domain.rate_share says what they mean. Each decision is
one conditional update: take the next slot (and the next place in the tenant's line) if they lie
where this container last saw them, or keep a place for a call that is not due yet. Every stored
point only moves on by a given amount, so concurrent senders never overwrite each other: each
update either takes the next point or fails without changing anything (a failed conditional write
still costs a write unit, and returns the item, so the caller learns where the schedule is).

- Below the rate, `nextSlot` lies in the past; a slot there would allow a burst, so the
  schedule restarts at now instead (conditional on still being in the past: one sender wins).
  Which of the two writes to try first is guessed from what this container last saw, so that
  either way one write is the usual cost. Lines restart at share time now the same way.
- A view older than a slot is read again before taking a slot, and one older than
  VIEW_MAX_AGE_S before a call is told to wait: a read costs a fraction of a write that fails.
- A call that wakes for its slot later than LATE_S would arrive among the next second's calls
  and meet a 429: it leaves the slot empty and takes another.
- Sinch answered 429 anyway. A lone 429 is most likely a call that arrived late and met the
  next second's calls: every sender skips one slot, and only the refused call waits its
  Retry-After (the whole fleet idle for a second would waste a second of the plan). A second 429
  within Sinch's one-second window means the plan's rate is really taken (another system on it,
  or a lower rate than configured): `hold_off` then moves `nextSlot` past the Retry-After, so
  every sender waits, not just the refused one. `refusedAt` on the item dates the last 429.

Slots are spaced at 1/(rate x HEADROOM): Sinch counts over a sliding second, and a call that
leaves on time can still arrive a few milliseconds late behind one that follows it.

One item takes every send: DynamoDB serves about 1,000 writes a second on one key, far above a
Sinch plan's rate. Lines of tenants that have not sent for a while are removed by the next
write, so the item holds the tenants sending lately, not every tenant. Clocks of Lambda hosts are
NTP-synchronised to milliseconds, well under an interval at the rates Sinch sells. A container
whose clock is off by some seconds shifts only what it writes: its calls go when its own clock
says (a clock behind makes them late, and late calls take new slots; one ahead books slots the
others then wait for, never more than its patience ahead of its own clock), and share time it
writes down is off by as much over the weight of those sending.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from sinch_gateway.data.messages import bookkeeping_id, condition_failed
from sinch_gateway.domain.rate_share import (
    IDLE_SHARE_TIME,
    Advance,
    Grant,
    Kind,
    Line,
    Plan,
    RateShare,
    Request,
    Schedule,
    Turn,
    come_back_in,
    plan,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)
metrics = Metrics()
HEADROOM = 0.97
SINCH_WINDOW_S = 1.0  # Sinch counts a plan's calls per second
# A call that leaves later than its slot by more than the schedule's slack (a second's calls
# spaced at HEADROOM leave 1/HEADROOM - 1 seconds) would arrive among the next second's calls.
# Calls never leave before their slots, so one late call may take the whole slack: the call after
# it leaves a full interval after its own slot. (A wake-up 16 ms late, common on a busy host, is
# then still in time.)
LATE_S = (1 / HEADROOM - 1) * SINCH_WINDOW_S
# A take can lose a race to another sender, or wait for its turn within its patience; after this
# many rounds the caller is told to come back a slot later instead of looping.
_ROUNDS = 6
# A view of the schedule older than this is read again before a call is told to wait.
VIEW_MAX_AGE_S = 1.0
# A slot is booked this many times the container's recent write time ahead of now (at most
# MAX_LEAD_S): the write's answer then comes before the slot, and the call leaves on it. Writes
# take milliseconds; the cap only bounds what a wild estimate could book, and lies well above
# what slow writes take (each slot booked closer than its write's answer is a slot missed).
LEAD_FACTOR = 2.0
MAX_LEAD_S = 1.0
_LEAD_WEIGHT = 0.2  # of the latest write, in the running estimate of the write time


_DIGITS = 6  # microseconds
_NEAR = 5e-6


def _number(value: float) -> dict[str, str]:
    return {"N": f"{value:.{_DIGITS}f}"}


class SharedRate:
    """The rate of calls to Sinch, per Sinch API (`key`), for all senders together, shared fairly
    among the tenants sending (domain.rate_share)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = client
        self._table = table
        self._interval = 1.0 / (rate_per_s * HEADROOM)
        self._clock = clock
        self._sleep = sleep
        self._views: dict[str, tuple[Schedule, float]] = {}  # each schedule as last seen here, and when
        self._write_s = 0.0  # how long this container's writes of the schedule take, lately

    def acquire(
        self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn | None = None
    ) -> Grant:
        """Slots for `calls` calls of the tenant `share` to Sinch, waiting for them at most
        `max_wait_s`; or none yet, with when to ask again and the place kept meanwhile.

        When DynamoDB cannot be asked, the calls go: the message is already claimed, and Sinch's
        429 is still retried, while an error here would leave it waiting for its lease with no
        retry queued.
        """
        try:
            return self._acquire(key, Request(share, calls, self._interval, max_wait_s, turn))
        except (BotoCoreError, ClientError):
            logger.warning("the shared Sinch rate could not be read: sending without it", extra={"key": key})
            return Grant(calls)

    def waits(self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn) -> Grant | None:
        """Taking nothing: for a call that kept `turn`, how much longer to wait (a Grant of no
        calls, with the turn to keep), or None once it may ask `acquire` for its slot. A read at
        most (none while this container's view is fresh); None when DynamoDB cannot be asked."""
        request = Request(share, calls, self._interval, max_wait_s, turn)
        now = round(self._clock(), _DIGITS)
        seen = self._views.get(key)
        try:
            if seen is None or now - seen[1] > VIEW_MAX_AGE_S:
                seen = (self._read(key, {"S": bookkeeping_id("rate", key)}, now), now)
        except (BotoCoreError, ClientError):
            return None
        decided = plan(seen[0], request, now)
        if decided.writes_nothing:
            return self._parked(request, decided)
        return None

    def _acquire(self, key: str, request: Request) -> Grant:
        item_id = {"S": bookkeeping_id("rate", key)}
        started = round(self._clock(), _DIGITS)
        fresh = False  # the view was read or written during this call
        for _ in range(_ROUNDS):
            now = round(self._clock(), _DIGITS)  # as stored: comparisons with the item are exact
            if key not in self._views:
                self._read(key, item_id, now)
                fresh = True
            view, seen_at = self._views[key]
            # Decided as of when the write will have answered: a slot booked for now would be
            # past by then, and the call would leave late by the write's time.
            at = round(now + min(MAX_LEAD_S, LEAD_FACTOR * self._write_s), _DIGITS)
            decided = plan(view, request, at, waited_s=at - started)
            if not fresh and now - seen_at > self._max_age(decided.kind):
                # The schedule moves with every call anyone makes: a read costs a fraction of a
                # write that fails on what it no longer is, and share time may have moved enough
                # for this call not to wait.
                self._read(key, item_id, now)
                fresh = True
                continue
            if decided.kind is Kind.WAIT:
                self._sleep(decided.wait_s)
                if decided.look_again:
                    self._read(key, item_id, round(self._clock(), _DIGITS))
                continue
            if decided.writes_nothing:
                # Nothing new to keep: it comes back with the turn it has.
                return self._parked(request, decided)
            try:
                item = self._timed_write(item_id, view, request, decided, at)
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                stored = exc.response.get("Item")
                self._see(key, stored if isinstance(stored, dict) else None, now)
                fresh = True
                continue
            self._see(key, item, now)
            tenant = request.share.tenant_id
            place = _taken(decided.line, item.get(_line(tenant)))
            cap_at = _taken(decided.cap, item.get(_cap(tenant)))
            if cap_at is None:
                cap_at = decided.kept_cap_at
            if decided.kind is Kind.PARK:
                if place is None:
                    place = decided.kept_place if decided.kept_place is not None else decided.clock
                # It keeps this place now; the next round tells whether to wait for it here.
                request = replace(request, turn=Turn(place, cap_at))
                continue
            slot = _taken(decided.slot, item.get("nextSlot"))
            go = max(slot if slot is not None else at, cap_at if cap_at is not None else at)
            self._sleep(max(0.0, go - self._clock()))
            if self._clock() - go > LATE_S:
                # Past its slot by more than the schedule's slack (the write answered late, or the
                # container woke late): sent now, the call would arrive among the next second's
                # and meet a 429. Its slot stays empty; it takes another, keeping its place.
                metrics.add_metric(name="SinchSlotsMissed", unit=MetricUnit.Count, value=1)
                kept = place if place is not None else decided.kept_place
                request = replace(request, turn=Turn(kept if kept is not None else decided.clock))
                continue
            return Grant(request.calls)
        return Grant(0, self._interval * request.calls, request.turn)

    def _timed_write(
        self, item_id: dict[str, str], view: Schedule, request: Request, decided: Plan, now: float
    ) -> dict[str, Any]:
        began = self._clock()
        try:
            return self._write(item_id, view, request, decided, now)
        finally:
            took = max(0.0, self._clock() - began)
            self._write_s += _LEAD_WEIGHT * (took - self._write_s)

    def _max_age(self, kind: Kind) -> float:
        """How old a view may be for deciding `kind`: a slot is taken against where the schedule
        is to the slot; a wait only needs to know roughly how long."""
        return self._interval if kind in (Kind.TAKE, Kind.BORROW) else VIEW_MAX_AGE_S

    @staticmethod
    def _parked(request: Request, decided: Plan) -> Grant:
        return Grant(0, come_back_in(decided, request.patience_s), request.turn)

    def _read(self, key: str, item_id: dict[str, str], now: float) -> Schedule:
        answer = self._db.get_item(TableName=self._table, Key={"id": item_id}, ConsistentRead=True)
        return self._see(key, answer.get("Item"), now)

    def _see(self, key: str, item: Mapping[str, Any] | None, now: float) -> Schedule:
        view = _schedule(item or {})
        self._views[key] = (view, now)
        return view

    def _write(
        self, item_id: dict[str, str], view: Schedule, request: Request, decided: Plan, now: float
    ) -> dict[str, Any]:
        """One conditional update doing what `decided` says, if the schedule is still as seen."""
        tenant = request.share.tenant_id
        update = _Update()
        update.advance("nextSlot", decided.slot)
        if decided.line is not None:
            update.advance(_line(tenant), decided.line)
            if request.share.weight == 1.0:
                update.remove(_weight(tenant))
            else:
                update.set(_weight(tenant), request.share.weight)
        update.advance(_cap(tenant), decided.cap)
        if decided.cap is not None:
            # What the others need to know of a cap: how much of the plan it may take.
            update.set(_cap_rate(tenant), request.share.cap_per_s or 0.0)
        if decided.leave_line:
            update.remove(_line(tenant), _weight(tenant))
        if _moves_share_time(view, request.share, decided):
            # Who counts among those sending changes from now on: share time is written down as
            # it stands, if nobody else did meanwhile (it must not be counted twice, nor back).
            update.set("shareClock", decided.clock)
            update.set("shareClockAt", now)
            if view.share_clock_at is None:
                update.absent("shareClockAt")
            else:
                update.near("shareClockAt", view.share_clock_at)
        for idle in decided.prune:
            # Still idle, or the write fails and the next round sees why.
            update.at_most(_line(idle), decided.clock - IDLE_SHARE_TIME)
            update.before(_cap(idle), now)
            update.remove(_line(idle), _weight(idle), _cap(idle), _cap_rate(idle))
        answer = self._db.update_item(
            TableName=self._table,
            Key={"id": item_id},
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **update.expression(),
        )
        return dict(answer.get("Attributes") or {})

    def hold_off(self, key: str, seconds: float) -> None:
        """Sinch answered 429 asking for `seconds`: the first 429 in a window costs every sender
        one slot; another within the window holds them all off for `seconds`."""
        try:
            self._hold_off(key, seconds)
        except (BotoCoreError, ClientError):
            logger.warning("could not hold the shared Sinch rate off", extra={"key": key})

    def _hold_off(self, key: str, seconds: float) -> None:
        now = round(self._clock(), _DIGITS)
        item_id = {"S": bookkeeping_id("rate", key)}
        values = {":now": _number(now), ":recent": _number(now - SINCH_WINDOW_S)}
        lone = "(attribute_not_exists(refusedAt) OR refusedAt < :recent)"
        # The schedule is mostly ahead of now when 429s happen (senders waiting for their slots).
        attempts = [
            ("SET nextSlot = nextSlot + :step", f"{lone} AND nextSlot >= :now", {":step": self._interval}),
            (
                "SET nextSlot = :next",
                f"{lone} AND (attribute_not_exists(nextSlot) OR nextSlot < :now)",
                {":next": now + self._interval},
            ),
            (
                "SET nextSlot = :until",
                "attribute_not_exists(nextSlot) OR nextSlot < :until",
                {":until": now + seconds},
            ),
        ]
        for update, condition, more in attempts:
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"id": item_id},
                    UpdateExpression=f"{update}, refusedAt = :now",
                    ConditionExpression=condition,
                    ExpressionAttributeValues={
                        **{k: v for k, v in values.items() if k in condition or k == ":now"},
                        **{k: _number(v) for k, v in more.items()},
                    },
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                continue
            return
        # Held off as long or longer already.


def _moves_share_time(view: Schedule, share: RateShare, decided: Plan) -> bool:
    """Whether this write changes who counts among those sending (a tenant joins or leaves, or
    its weight changes while it counts): share time so far must then be written down."""
    line = view.lines.get(share.tenant_id)
    counted = line is not None and line.end > decided.clock
    joins = decided.line is not None and not counted
    reweighs = decided.line is not None and counted and line is not None and line.weight != share.weight
    return view.share_clock_at is None or joins or reweighs or decided.leave_line


def _line(tenant_id: str) -> str:
    return f"line#{tenant_id}"


def _weight(tenant_id: str) -> str:
    return f"weight#{tenant_id}"


def _cap(tenant_id: str) -> str:
    return f"capNext#{tenant_id}"


def _cap_rate(tenant_id: str) -> str:
    return f"capRate#{tenant_id}"


def _number_of(value: Mapping[str, str] | None) -> float | None:
    return float(value["N"]) if value and "N" in value else None


def _schedule(item: Mapping[str, Any]) -> Schedule:
    """The schedule in a stored item (an empty one when there is none yet)."""
    clock = _number_of(item.get("shareClock")) or 0.0
    tenants = {name.split("#", 1)[1] for name in item if name.startswith(("line#", "capNext#"))}
    lines = {
        tenant: Line(
            end=_number_of(item.get(_line(tenant))) or clock,
            weight=_number_of(item.get(_weight(tenant))) or 1.0,
            cap_next=_number_of(item.get(_cap(tenant))),
            cap_per_s=_number_of(item.get(_cap_rate(tenant))),
        )
        for tenant in tenants
    }
    return Schedule(
        next_slot=_number_of(item.get("nextSlot")),
        share_clock=clock,
        share_clock_at=_number_of(item.get("shareClockAt")),
        lines=lines,
    )


def _taken(advance: Advance | None, stored: Mapping[str, str] | None) -> float | None:
    """The point an advance took, from the value it left stored."""
    if advance is None:
        return None
    if advance.restart:
        return round(advance.start, _DIGITS)
    after = _number_of(stored)
    return None if after is None else round(after - round(advance.by, _DIGITS), _DIGITS)


class _Update:
    """An update expression and its condition, built one attribute at a time."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, dict[str, str]] = {}
        self._set: list[str] = []
        self._remove: list[str] = []
        self._conditions: list[str] = []

    def _name(self, attribute: str) -> str:
        alias = f"#a{len(self._names)}"
        self._names[alias] = attribute
        return alias

    def _value(self, value: float) -> str:
        alias = f":v{len(self._values)}"
        self._values[alias] = _number(value)
        return alias

    def advance(self, attribute: str, advance: Advance | None) -> None:
        if advance is None:
            return
        name, start = self._name(attribute), self._value(advance.start)
        if advance.restart:
            self._set.append(f"{name} = {self._value(advance.start + advance.by)}")
            self._conditions.append(f"(attribute_not_exists({name}) OR {name} < {start})")
            return
        self._set.append(f"{name} = {name} + {self._value(advance.by)}")
        if math.isinf(advance.latest):
            self._conditions.append(f"{name} >= {start}")
        else:
            self._conditions.append(f"{name} BETWEEN {start} AND {self._value(advance.latest)}")

    def set(self, attribute: str, value: float) -> None:
        self._set.append(f"{self._name(attribute)} = {self._value(value)}")

    def absent(self, attribute: str) -> None:
        self._conditions.append(f"attribute_not_exists({self._name(attribute)})")

    def near(self, attribute: str, value: float) -> None:
        """Stored as `value` was seen (numbers come back through a float: a microsecond either way)."""
        name = self._name(attribute)
        low, high = self._value(value - _NEAR), self._value(value + _NEAR)
        self._conditions.append(f"{name} BETWEEN {low} AND {high}")

    def remove(self, *attributes: str) -> None:
        self._remove.extend(self._name(a) for a in attributes)

    def at_most(self, attribute: str, value: float) -> None:
        name = self._name(attribute)
        self._conditions.append(f"(attribute_not_exists({name}) OR {name} <= {self._value(value)})")

    def before(self, attribute: str, value: float) -> None:
        name = self._name(attribute)
        self._conditions.append(f"(attribute_not_exists({name}) OR {name} < {self._value(value)})")

    def expression(self) -> dict[str, Any]:
        clauses = [f"SET {', '.join(self._set)}"] if self._set else []
        if self._remove:
            clauses.append(f"REMOVE {', '.join(self._remove)}")
        expression: dict[str, Any] = {
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": self._names,
            "ExpressionAttributeValues": self._values,
        }
        if self._conditions:
            expression["ConditionExpression"] = " AND ".join(self._conditions)
        return expression
