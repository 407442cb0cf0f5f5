"""Each tenant's fair share of Sinch's rate, as pure arithmetic (data.rate_limit keeps the state in
DynamoDB and makes each decision one conditional write).

Two schedules share one plan:

- The plan's own, in real time: calls go `step` apart (`next_slot` is the next free one). It
  protects Sinch's limit, whoever sends.
- A line per tenant, in *share time*: how much of the rate has been served per unit of weight.
  Every call served moves share time on by `step / W`, W being the weight of the tenants whose
  lines reach past it (those waiting). A tenant's calls take places `step / weight` apart in
  its line, never before share time now (an idle tenant starts afresh, with no credit saved up).
  A call may take a slot of the plan once share time has (nearly) reached its place.

So with A and B both sending past the rate, share time moves half a step per call, each line a
step per call: they get every other slot. With B quiet, A's places come due as fast as calls
go, and A has every slot. With B sending below its half, B's places are due at once and A's
come due as fast as slots are served, so A takes what B leaves. Weights scale a line's spacing.

A call whose place is not due yet keeps its place (`Turn`) and is told when to come back, a
little before the place is due: the place, not the order of asking, decides who goes next, so
messages waiting in a queue come back one after another instead of all at once.

A cap is a tenant's own schedule in real time, `calls / cap` apart, whatever is free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

# A tenant with no line waiting (one starting to send, or sending below its share) may book this
# many slots further ahead than tenants with a line: it finds room at once even while they keep
# the plan's schedule full, and it is counted among those sending from its first call.
NEWCOMER_SLOTS = 2
# Of a call's patience: when the plan's schedule has less than this booked ahead, a call whose
# place is not due yet may have the slot rather than leave it empty (its tenant's line stays as
# it is: using what nobody else wants costs no share).
IDLE_FRACTION = 0.25
# A line that ended this far behind share time (about a minute at least) is removed from the item.
IDLE_SHARE_TIME = 60.0
# A place is kept while it is at most this far past the tenant's line (rounding of stored values).
_EPSILON = 1e-6


@dataclass(frozen=True)
class RateShare:
    """A tenant's claim on the plan's rate: its weight among the tenants sending, and an
    optional cap (calls per second, whatever is free)."""

    tenant_id: str
    weight: float = 1.0
    cap_per_s: float | None = None


@dataclass(frozen=True)
class Turn:
    """The place a waiting call keeps in its tenant's line (share time), and in its tenant's
    capped schedule (real time), until it comes back."""

    place: float
    cap_at: float | None = None


@dataclass(frozen=True)
class Grant:
    """`calls` may go now (the caller has waited for their slot); or none may, and the caller
    should ask again in `wait_s`, keeping `turn`."""

    calls: int
    wait_s: float = 0.0
    turn: Turn | None = None


@dataclass(frozen=True)
class Line:
    """A tenant's line as stored: where it ends (share time) and the weight it was last given;
    for a capped tenant, when its next call may go (real time)."""

    end: float
    weight: float = 1.0
    cap_next: float | None = None


@dataclass(frozen=True)
class Schedule:
    """One Sinch API's shared state, as last seen."""

    next_slot: float | None = None
    share_clock: float = 0.0
    lines: Mapping[str, Line] = field(default_factory=dict)

    def waiting_weight(self, tenant_id: str, weight: float) -> float:
        """The weight of the tenants sending, `tenant_id` among them (at `weight`): those whose
        lines reach past share time."""
        others = sum(
            line.weight
            for tenant, line in self.lines.items()
            if tenant != tenant_id and line.end > self.share_clock
        )
        return others + weight

    def idle(self, now: float) -> tuple[str, ...]:
        """Tenants that have taken no place for long and whose caps are past: nothing there is
        needed any more."""
        return tuple(
            tenant
            for tenant, line in self.lines.items()
            if line.end < self.share_clock - IDLE_SHARE_TIME
            and (line.cap_next is None or line.cap_next < now)
        )


@dataclass(frozen=True)
class Advance:
    """Move a schedule's next free point (one stored number) on by `by`: from where it is, when
    that lies within [start, latest]; from `start` when it lies before (`restart`, as last seen).
    What it lies at is checked by the write, so concurrent callers never take the same point."""

    start: float
    by: float
    latest: float = math.inf
    restart: bool = False


class Kind(Enum):
    TAKE = "take"  # the calls go at a slot of the plan's schedule, at their place in the line
    BORROW = "borrow"  # the calls go at a slot nobody else wants, their place not yet due
    WAIT = "wait"  # nearly due, or the plan's schedule nearly has room: sleep, then ask again
    PARK = "park"  # a place is kept (taken now if new), and the caller comes back near it


@dataclass(frozen=True)
class Plan:
    """What to write, on the condition that the schedule is as it was seen."""

    kind: Kind
    slot: Advance | None = None  # the plan's schedule (TAKE, BORROW)
    line: Advance | None = None  # the tenant's line, when a new place is taken
    cap: Advance | None = None  # a capped tenant's schedule, when a new point is taken
    served: float = 0.0  # share time the calls move the clock on by (TAKE, BORROW)
    kept_place: float | None = None  # the place the call came back with, still in its line
    kept_cap_at: float | None = None  # the point in its capped schedule it came back with, still ahead
    wait_s: float = 0.0  # WAIT: how long to sleep first; PARK without a write: until it could go
    look_again: bool = False  # WAIT: share time must have moved, so read the schedule again
    weight: float = 1.0  # the weight of the tenants sending, this one among them
    horizon: float = 0.0  # how far ahead this call may book (its patience, less any reserve)
    prune: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    share: RateShare
    calls: int
    step: float  # seconds between two calls at the plan's rate
    patience_s: float  # how long the caller may wait for its slot
    turn: Turn | None = None


def plan(view: Schedule, request: Request, now: float, waited_s: float = 0.0) -> Plan:
    """The next move for `request` at `now`, from the schedule as last seen, the caller having
    waited `waited_s` of its patience already."""
    share, calls, step, patience = request.share, request.calls, request.step, request.patience_s
    line = view.lines.get(share.tenant_id)
    clock = view.share_clock
    end = line.end if line is not None else clock
    turn = request.turn
    kept = turn.place if turn is not None and turn.place <= end + _EPSILON else None
    weight = view.waiting_weight(share.tenant_id, share.weight)
    # A tenant whose cap lies below its share sends at its cap: it takes no place in share time
    # (it needs no share, and the others share the rest of the rate among themselves).
    below_share = share.cap_per_s is not None and share.cap_per_s < share.weight / (weight * step)
    place = kept if kept is not None else max(end, clock)
    due_in = 0.0 if below_share else max(0.0, (place - clock) * weight)
    # A tenant with no line waiting (a newcomer, or one sending below its share) may book
    # further ahead than the others: it finds room at once even while they keep the schedule full.
    cost = calls * step / share.weight
    unhurried = below_share or (kept is None and end - clock <= cost + _EPSILON)
    horizon = patience if unhurried else max(patience / 2, patience - NEWCOMER_SLOTS * calls * step)
    new_line = (
        None
        if kept is not None or below_share
        else Advance(start=clock, by=cost, restart=line is None or end < clock)
    )
    served = 0.0 if below_share else calls * step / weight

    cap: Advance | None = None
    # A capped call keeps its point in its tenant's schedule only while that lies ahead: a point
    # used late would put two calls closer than the cap allows.
    kept_cap = turn.cap_at if turn is not None and turn.cap_at is not None and turn.cap_at >= now else None
    cap_at = kept_cap
    if share.cap_per_s and cap_at is None:
        seen = line.cap_next if line is not None else None
        cap_at = max(seen, now) if seen is not None else now
        cap = Advance(start=now, by=calls / share.cap_per_s, restart=seen is None or seen < now)
    start = max(now, cap_at) if cap_at is not None else now
    slot_at = max(view.next_slot, start) if view.next_slot is not None else start
    restart = view.next_slot is None or view.next_slot < start
    prune = tuple(t for t in view.idle(now) if t != share.tenant_id)[:_PRUNE_PER_WRITE]
    # Its turn: the slot it comes to if every place before it in share time takes one first.
    # Any call's taking a slot moves the schedule on by a step and share time by as much as the
    # weight of those sending makes a step, so a place's turn stays where it is, whoever goes.
    turn_at = slot_at + due_in
    due = turn_at <= now + patience
    cap_due = cap_at is None or cap_at <= now + horizon

    if due and cap_due and slot_at <= now + horizon:
        return Plan(
            Kind.TAKE,
            # A slot of slack: a view a call old still finds its slot, inside the reserve.
            slot=Advance(start, calls * step, min(now + horizon + calls * step, now + patience), restart),
            line=_bounded(new_line, clock + (now + patience - slot_at) / weight),
            cap=_bounded(cap, now + horizon),
            served=served,
            kept_place=kept,
            kept_cap_at=kept_cap,
            weight=weight,
            horizon=horizon,
            prune=prune,
        )
    idle_until = now + patience * IDLE_FRACTION
    if not due and cap_due and slot_at <= idle_until:
        return Plan(
            Kind.BORROW,
            slot=Advance(start, calls * step, idle_until, restart),
            cap=_bounded(cap, now + horizon),
            served=served,
            kept_place=kept,
            kept_cap_at=kept_cap,
            weight=weight,
            horizon=horizon,
            prune=prune,
        )
    if new_line is not None or cap is not None:
        # Not now: take a place first (and a point under its cap), so that calls waiting come
        # back one after another, each at its own turn, instead of all at once.
        return Plan(
            Kind.PARK,
            line=new_line,
            cap=cap,
            kept_place=kept,
            kept_cap_at=kept_cap,
            weight=weight,
            horizon=horizon,
            prune=prune,
        )
    # How long until its turn (and its cap) come within its horizon, as far as this view tells:
    # calls waiting wake in the order of their turns, not all at once when the schedule has room.
    ready_in = max(turn_at - (now + horizon), (cap_at or now) - (now + horizon), 0.0)
    if ready_in <= patience - waited_s:
        return Plan(
            Kind.WAIT, wait_s=ready_in, look_again=turn_at > now + patience, weight=weight, horizon=horizon
        )
    return Plan(
        Kind.PARK, kept_place=kept, kept_cap_at=kept_cap, wait_s=ready_in, weight=weight, horizon=horizon
    )


_PRUNE_PER_WRITE = 4


def _bounded(advance: Advance | None, latest: float) -> Advance | None:
    return None if advance is None else Advance(advance.start, advance.by, latest, advance.restart)


def come_back_in(plan: Plan, patience_s: float) -> float:
    """When a parked call should ask again: half its patience after it could go, as far as the
    schedule told, so that a queue's whole-second delays bring it back in time for its turn."""
    return plan.wait_s + patience_s / 2
