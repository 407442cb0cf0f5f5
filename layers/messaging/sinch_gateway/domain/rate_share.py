"""Each tenant's fair share of Sinch's rate, as pure arithmetic (data.rate_limit keeps the state in
DynamoDB and makes each decision one conditional write).

Two schedules share one plan:

- The plan's own, in real time: calls go `step` apart (`next_slot` is the next free one). It
  protects Sinch's limit, whoever sends.
- A line per tenant in *share time*, a clock that runs at 1/W of real time, W being the weight of
  the tenants whose lines reach past it (those with calls waiting): one second of share time is
  one second of the whole plan for each unit of weight. A tenant's calls take places in its line
  `step / weight` apart, never before share time now (an idle tenant starts afresh, with no
  credit saved up); a call's place comes due when share time reaches it.

So with A and B both sending past the rate, share time runs at half speed and each gets a place
due every other step: every other slot. With B quiet, A's places come due every step. A tenant
sending below its share finds its places due at once (its line never gets ahead), and the slots
it leaves go to calls whose places are not due yet rather than stay empty (lent: share time is
not moved by them, so nobody's turn is taken). Weights scale the spacing of a line.

A call whose place is not due keeps its place (`Turn`) and is told when to come back, a little
before it is due: the place, not the order of asking, decides who goes next, so messages
waiting in a queue come back one after another instead of all at once.

A cap is a tenant's own schedule in real time, `calls / cap` apart, whatever is free; a tenant
whose cap lies below its share sends at its cap and takes no place in share time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

# A tenant with no line waiting (one starting to send, or sending below its share) may book this
# many slots further ahead than tenants with a line: it finds room at once even while they keep
# the plan's schedule full, and it is counted among those sending from its first call.
NEWCOMER_SLOTS = 1
# A line that ended this far behind share time (about a minute at least) is removed from the item.
IDLE_SHARE_TIME = 60.0
# Rounding of stored values: a place this far past the tenant's line is still in it.
_EPSILON = 1e-6
_PRUNE_PER_WRITE = 4
# A tenant sending at its cap counts as such while its capped schedule was used this recently.
CAP_ACTIVE_S = 1.0
# Whatever capped tenants take, share time never stands still.
MIN_LEFT = 0.05


@dataclass(frozen=True)
class RateShare:
    """A tenant's claim on the plan's rate: its weight among the tenants sending, and an
    optional cap (calls per second, whatever is free)."""

    tenant_id: str
    weight: float = 1.0
    cap_per_s: float | None = None


@dataclass(frozen=True)
class Turn:
    """The place a waiting call keeps in its tenant's line (share time), and for a tenant sending
    at its cap the point it keeps in its capped schedule (real time), until it comes back."""

    place: float
    cap_at: float | None = None


@dataclass(frozen=True)
class Waiting:
    """What a call parked for its turn asks of the rate when it comes back: `calls` calls of the
    tenant `tenant_id` to the schedule `key`, until `until` (epoch seconds; past it, the call is
    too old to go). Asked before anything else is read, it waits again at the cost of a read."""

    key: str
    tenant_id: str
    calls: int
    until: float


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
    cap_per_s: float | None = None


@dataclass(frozen=True)
class Schedule:
    """One Sinch API's shared state, as last seen: the plan's next free slot, share time as it
    stood at `share_clock_at`, and each sending tenant's line."""

    next_slot: float | None = None
    share_clock: float = 0.0
    share_clock_at: float | None = None
    lines: Mapping[str, Line] = field(default_factory=dict)

    def share_time(self, now: float, step: float) -> float:
        """Share time at `now`: from where it stood, at 1/W of real time while W, the weight of
        the lines reaching past it, is above nothing (W drops as it passes the end of a line),
        less what tenants sending at their caps take of the plan."""
        clock = self.share_clock
        if self.share_clock_at is None:
            return clock
        left = max(0.0, now - self.share_clock_at) * self.left_by_caps(now, step)
        for end in sorted({line.end for line in self.lines.values() if line.end > clock}):
            weight = sum(line.weight for line in self.lines.values() if line.end > clock)
            if (end - clock) * weight >= left:
                return clock + left / weight
            left -= (end - clock) * weight
            clock = end
        return clock  # every line passed: nobody waits, share time stands

    def left_by_caps(self, now: float, step: float) -> float:
        """The part of the plan's rate that tenants sending at their caps (below their share, so
        with no line counted) leave to the others: they take their caps outside share time."""
        capped = sum(
            line.cap_per_s
            for line in self.lines.values()
            if line.cap_per_s is not None
            and line.cap_next is not None
            and line.cap_next >= now - CAP_ACTIVE_S
            and line.end <= self.share_clock
        )
        return max(MIN_LEFT, 1.0 - capped * step)

    def real_time_to(self, place: float, clock: float, share: RateShare) -> float:
        """The plan's seconds until share time, at `clock` now, reaches `place` in `share`'s line,
        as the lines stand: the others' weight counts until the end of each of their lines (the
        calls they have waiting), so a call that waits behind a tenant about to stop comes back
        when share time, sped up then, reaches it; one whose others keep sending comes back
        early, and waits again."""
        ends = sorted(
            (line.end, line.weight)
            for tenant, line in self.lines.items()
            if tenant != share.tenant_id and line.end > clock
        )
        seconds, at, others = 0.0, clock, sum(weight for _, weight in ends)
        for end, weight in ends:
            if end >= place:
                break
            seconds += (end - at) * (share.weight + others)
            at, others = end, others - weight
        return seconds + max(0.0, place - at) * (share.weight + others)

    def waiting_weight(self, tenant_id: str, weight: float, clock: float) -> float:
        """The weight of the tenants sending at share time `clock`, `tenant_id` among them (at
        `weight`): those whose lines reach past it."""
        others = sum(
            line.weight for tenant, line in self.lines.items() if tenant != tenant_id and line.end > clock
        )
        return others + weight

    def idle(self, now: float, clock: float) -> tuple[str, ...]:
        """Tenants that have taken no place for long and whose caps are past: nothing there is
        needed any more."""
        return tuple(
            tenant
            for tenant, line in self.lines.items()
            if line.end < clock - IDLE_SHARE_TIME and (line.cap_next is None or line.cap_next < now)
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
    TAKE = "take"  # the calls go at a slot of the plan's schedule, their place due
    BORROW = "borrow"  # the calls go at a slot nobody due wants, their place not due yet
    WAIT = "wait"  # nearly due, or the plan's schedule nearly has room: sleep, then ask again
    PARK = "park"  # a place is kept (taken now if new), and the caller comes back near it


@dataclass(frozen=True)
class Plan:
    """What to write, on the condition that the schedule is as it was seen."""

    kind: Kind
    clock: float  # share time now, as this view tells
    slot: Advance | None = None  # the plan's schedule (TAKE, BORROW)
    line: Advance | None = None  # the tenant's line, when a new place is taken
    cap: Advance | None = None  # a capped tenant's schedule, when a new point is taken
    kept_place: float | None = None  # the place the call came back with, still in its line
    kept_cap_at: float | None = None  # the point under its cap it came back with, still ahead
    wait_s: float = 0.0  # WAIT: how long to sleep first; PARK without a write: until it could go
    look_again: bool = False  # WAIT: its place must have come due, so read the schedule again
    weight: float = 1.0  # the weight of the tenants sending, this one among them
    horizon: float = 0.0  # how far ahead this call may book (its patience, less any reserve)
    prune: tuple[str, ...] = ()
    leave_line: bool = False  # a tenant now below its share: its line no longer counts

    @property
    def writes_nothing(self) -> bool:
        """A call parked with the place (and point under its cap) it came with: nothing to keep."""
        return self.kind is Kind.PARK and self.line is None and self.cap is None


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
    clock = view.share_time(now, step)
    line = view.lines.get(share.tenant_id)
    end = line.end if line is not None else clock
    turn = request.turn
    weight = view.waiting_weight(share.tenant_id, share.weight, clock)
    # A place is kept while it is still in the line and its turn passed less than a patience
    # ago: a call back much later than its turn lost it (as a tenant not sending loses its
    # share), and takes a new place at the end of its tenant's line, behind the calls that came
    # in time, instead of going before everyone who came meanwhile. (Kept longer, a tenant whose
    # calls all came back late would take every slot from one that just began sending.)
    kept = (
        turn.place if turn is not None and clock - patience / weight <= turn.place <= end + _EPSILON else None
    )
    # A tenant whose cap lies below its share sends at its cap: it takes no place in share time
    # (it needs no share, and the others share the rest of the rate among themselves).
    below_share = share.cap_per_s is not None and share.cap_per_s < share.weight / (weight * step)
    place = kept if kept is not None else max(end, clock)
    # Seconds until share time reaches the place, at the present weight and caps.
    due_in = 0.0 if below_share else view.real_time_to(place, clock, share) / view.left_by_caps(now, step)
    # A tenant with no line waiting (a newcomer, or one sending below its share) may book
    # further ahead than the others: it finds room at once even while they keep the schedule full.
    cost = calls * step / share.weight
    unhurried = below_share or (kept is None and end - clock <= cost + _EPSILON)
    horizon = patience if unhurried else patience - min(NEWCOMER_SLOTS * calls * step, patience / 2)
    new_line = (
        None
        if kept is not None or below_share
        else Advance(start=clock, by=cost, restart=line is None or end < clock)
    )

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
    prune = tuple(t for t in view.idle(now, clock) if t != share.tenant_id)[:_PRUNE_PER_WRITE]
    leave_line = below_share and line is not None and line.end > clock
    # Due once share time is within its patience of the place; the slot it takes must still lie
    # within its horizon (the reserve for newcomers is the plan's, not its line's).
    due = due_in <= patience
    room = slot_at <= now + horizon and (cap_at is None or cap_at <= now + horizon)

    # What this call keeps, whatever it does: the writes below add to it.
    keeps = Plan(
        Kind.PARK,
        clock=clock,
        kept_place=kept,
        kept_cap_at=kept_cap,
        weight=weight,
        horizon=horizon,
        prune=prune,
        leave_line=leave_line,
    )
    if due and room:
        # A slot of slack (a view a call old still finds its slot), within the reserve.
        latest = max(now + horizon, min(now + horizon + calls * step, now + patience - calls * step))
        return replace(
            keeps,
            kind=Kind.TAKE,
            slot=Advance(start, calls * step, latest, restart),
            line=_bounded(new_line, clock + patience / weight),
            cap=_bounded(cap, now + horizon),
        )
    # Lent only once the schedule has run out: a call that is due, even late, goes first.
    if not due and room and slot_at <= now:
        return replace(
            keeps,
            kind=Kind.BORROW,
            slot=Advance(start, calls * step, now, restart),
            cap=_bounded(cap, now + horizon),
        )
    # A point under its cap is kept while waiting only by a tenant that sends at its cap (it has
    # no place in share time to wait in); others take theirs as they go.
    kept_cap_point = cap if below_share else None
    if new_line is not None or kept_cap_point is not None:
        # Not now: take a place first (or a point under its cap), so that calls waiting come
        # back one after another, each at its own turn, instead of all at once.
        return replace(keeps, line=new_line, cap=kept_cap_point)
    # How long until its place is due and the schedule (and its cap) have room, as far as this
    # view tells: calls waiting wake in the order of their places.
    ready_in = max(due_in - patience, slot_at - (now + horizon), (cap_at or now) - (now + horizon), 0.0)
    if ready_in <= patience - waited_s:
        return replace(keeps, kind=Kind.WAIT, wait_s=ready_in, look_again=not due, prune=(), leave_line=False)
    return replace(keeps, wait_s=ready_in, prune=(), leave_line=False)


def _bounded(advance: Advance | None, latest: float) -> Advance | None:
    return None if advance is None else Advance(advance.start, advance.by, latest, advance.restart)


def come_back_in(plan: Plan, patience_s: float) -> float:
    """When a parked call should ask again: half its patience after it could go, as far as the
    schedule told, so that a queue's whole-second delays bring it back in time for its turn."""
    return plan.wait_s + patience_s / 2
