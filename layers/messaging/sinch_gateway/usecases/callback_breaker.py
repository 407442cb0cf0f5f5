"""A circuit breaker per status callback receiver: one tenant's broken receiver must not hold the
workers that deliver everybody's callbacks.

A receiver (a tenant's callback URL origin, QueuedCallback.receiver) that let a POST run for half
its deadline and failed, or that failed several times in a row, is *held*: its callbacks are put
back on the queue without a POST until the hold ends, each at least as late as its own backoff
would have it (so a held callback is received no more often than a failing one, and still goes to
the dead-letter queue at its max age). When the hold ends, one callback probes: taken, and the
receiver is healthy again; refused, and it is held again, for longer (the callbacks' own backoff
schedule, counted in holds). A hanging receiver thus costs one worker for one deadline per hold,
instead of every worker for every one of its callbacks.

The state is shared by every container (a small item per failing receiver, ReceiverHealthStore),
and each container keeps what it read for a few seconds: a healthy receiver costs a read now and
then and no write at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.domain.status_callbacks import ReceiverHealth
from sinch_gateway.usecases.ports import ReceiverHealthStore

logger = Logger(child=True)
metrics = Metrics()


@dataclass(frozen=True)
class Passage:
    """What a callback to a receiver may do now: be POSTed (as the probe of a held receiver, or
    not), or wait until `wait_until` (epoch seconds) without a POST."""

    post: bool
    probe: bool = False
    wait_until: float = 0.0


GO = Passage(post=True)
_MAX_KNOWN = 1000


class ReceiverBreaker:
    def __init__(
        self,
        store: ReceiverHealthStore,
        hold_s: Callable[[int], float],
        *,
        probe_s: float,
        failures_to_hold: int = 5,
        cache_s: float = 5.0,
    ) -> None:
        """`hold_s(n)`: how long the nth hold in a row lasts. `probe_s`: how long a probe may take
        before another container may probe instead (its POST's deadline, and some)."""
        self._store = store
        self._hold_s = hold_s
        self._probe_s = probe_s
        self._failures_to_hold = failures_to_hold
        self._cache_s = cache_s
        # receiver -> (its health, until when this container may use it without asking again)
        self._known: dict[str, tuple[ReceiverHealth, float]] = {}
        self._lock = threading.Lock()  # a batch's message groups are delivered on threads

    def passage(self, receiver: str, now: float) -> Passage:
        health = self._health(receiver, now)
        if health.held_until is None:
            return GO
        if health.held_until > now:
            return Passage(post=False, wait_until=health.held_until)
        # The hold is over: one callback, in one container, finds out whether it recovered.
        until = now + self._probe_s
        if self._store.claim_probe(receiver, now, until):
            self._remember(receiver, replace(health, held_until=until), until, now)
            return Passage(post=True, probe=True)
        health = self._store.get(receiver)  # another probe is out, or it recovered meanwhile
        self._remember(receiver, health, now + self._cache_s, now)
        if health.held_until is None:
            return GO
        return Passage(post=False, wait_until=max(health.held_until, now + 1))

    def taken(self, receiver: str, passage: Passage, now: float) -> None:
        health = self._health(receiver, now)
        if passage.probe or health.known_failing:
            self._store.clear(receiver)
            if passage.probe:
                logger.info("a held status callback receiver took its probe", extra={"receiver": receiver})
        self._remember(receiver, ReceiverHealth(), now + self._cache_s, now)

    def refused(self, receiver: str, passage: Passage, now: float, *, slow: bool) -> None:
        """A POST failed; `slow`: it held its worker for long (a receiver that does not answer)."""
        if passage.probe:
            holds = self._health(receiver, now).holds + 1
            self._hold(receiver, holds, now, unless_held=False)
            return
        health = self._store.add_failure(receiver)
        if slow or health.failures >= self._failures_to_hold:
            self._hold(receiver, health.holds + 1, now, unless_held=True)
        else:
            self._remember(receiver, health, now + self._cache_s, now)

    def _hold(self, receiver: str, holds: int, now: float, *, unless_held: bool) -> None:
        until = now + self._hold_s(holds)
        if not self._store.hold(receiver, until, holds, now, unless_held=unless_held):
            self._forget(receiver)  # held already, by another container: read it next time
            return
        self._remember(receiver, ReceiverHealth(holds=holds, held_until=until), until, now)
        metrics.add_metric(name="CallbackReceiversHeld", unit=MetricUnit.Count, value=1)
        logger.warning(
            "a status callback receiver is held: its callbacks wait without a POST",
            extra={"receiver": receiver, "holds": holds, "held_s": round(until - now)},
        )

    def _health(self, receiver: str, now: float) -> ReceiverHealth:
        with self._lock:
            known = self._known.get(receiver)
        if known is not None and now < known[1]:
            return known[0]
        health = self._store.get(receiver)
        valid = now + self._cache_s
        if health.held_until is not None and health.held_until > now:
            valid = health.held_until  # nothing changes before then but by a probe, after it
        self._remember(receiver, health, valid, now)
        return health

    def _remember(self, receiver: str, health: ReceiverHealth, until: float, now: float) -> None:
        with self._lock:
            if len(self._known) >= _MAX_KNOWN:  # a container may live for hours: forget the stale
                self._known = {r: known for r, known in self._known.items() if known[1] > now}
            self._known[receiver] = (health, until)

    def _forget(self, receiver: str) -> None:
        with self._lock:
            self._known.pop(receiver, None)
