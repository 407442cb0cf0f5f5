"""The shared Sinch rate on DynamoDB (moto), against a fake clock: slots spaced at the rate, a call
told when to come back (keeping its place) when its turn is not within its patience, no burst
after an idle spell, a lone 429 costing one slot and a second one a shared hold-off, concurrent
senders never given the same slot, and each tenant's fair share (weights, caps) among those
sending, measured by playing tenants' calls against the schedule."""

from __future__ import annotations

import functools
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from devstack import aws
from devstack.moto_server import MotoServer
from sinch_gateway.data.rate_limit import HEADROOM, SharedRate
from sinch_gateway.domain.rate_share import Grant, RateShare, Turn
from tests.integration.conftest import Env
from tests.integration.virtual_time import VirtualTime
from tests.unit.fakes import Clock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RATE = 10.0
INTERVAL = 1 / (RATE * HEADROOM)
A, B = RateShare("tenant-a"), RateShare("tenant-b")
POLL_S = 0.05


class Sleeps(list[float]):
    """Sleeps a container took; with a clock, it passes as they are taken (one container's calls
    follow each other)."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self._clock = clock

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self._clock is not None:
            self._clock.advance(seconds)


def shared(env: Env, clock: Clock) -> tuple[SharedRate, Sleeps]:
    sleeps = Sleeps(clock)
    return SharedRate(env.ddb, env.table, RATE, clock=clock, sleep=sleeps), sleeps


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # a schedule of its own, whatever ran before


def test_a_senders_calls_go_one_slot_apart(env: Env, key: str) -> None:
    clock = Clock()
    rate, sleeps = shared(env, clock)

    assert [rate.acquire(key, A, 1, max_wait_s=1.0) for _ in range(5)] == [Grant(1)] * 5

    # The first starts the schedule now; each next one sleeps one interval.
    assert sleeps == pytest.approx([0.0] + [INTERVAL] * 4, abs=1e-5)


def test_a_call_whose_turn_is_past_its_patience_keeps_a_place_and_comes_back_to_it(
    env: Env, key: str
) -> None:
    clock = Clock()
    rate, sleeps = shared(env, clock)
    rate.acquire(key, A, 1, max_wait_s=1.0)
    rate.hold_off(key, 5.0)
    rate.hold_off(key, 5.0)  # twice within a second: every sender holds off for 5 s

    waiting = rate.acquire(key, A, 1, max_wait_s=1.0)
    behind = rate.acquire(key, A, 1, max_wait_s=1.0)

    assert (waiting.calls, behind.calls) == (0, 0)
    assert waiting.turn is not None and behind.turn is not None
    assert behind.turn.place > waiting.turn.place, "each keeps a place of its own, in order"
    # Told to come back within its patience of the end of the hold-off, not before.
    assert 4.0 <= waiting.wait_s <= 5.0
    clock.advance(waiting.wait_s)
    assert rate.acquire(key, A, 1, 1.0, waiting.turn) == Grant(1)
    assert rate.acquire(key, A, 1, 1.0, behind.turn) == Grant(1)
    assert sleeps[-2:] == pytest.approx([5.0 - waiting.wait_s, INTERVAL], abs=1e-4), "in order, at its turn"


def test_a_call_back_before_its_turn_is_told_to_wait_again_and_changes_nothing(env: Env, key: str) -> None:
    clock = Clock()
    rate, _ = shared(env, clock)
    rate.acquire(key, A, 1, max_wait_s=1.0)
    rate.hold_off(key, 5.0)
    rate.hold_off(key, 5.0)
    parked = rate.acquire(key, A, 1, max_wait_s=1.0)
    assert parked.turn is not None
    item = env.ddb.get_item(TableName=env.table, Key={"id": {"S": f"rate#{key}"}})["Item"]

    clock.advance(1.0)
    again = rate.waits(key, A, 1, 1.0, parked.turn)

    assert again is not None and (again.calls, again.turn) == (0, parked.turn)
    assert again.wait_s == pytest.approx(parked.wait_s - 1.0, abs=1e-3)
    assert env.ddb.get_item(TableName=env.table, Key={"id": {"S": f"rate#{key}"}})["Item"] == item
    clock.advance(again.wait_s)
    assert rate.waits(key, A, 1, 1.0, parked.turn) is None, "its turn come: acquire takes its slot"
    assert rate.acquire(key, A, 1, 1.0, parked.turn) == Grant(1)


def test_a_lookup_and_a_send_take_two_slots(env: Env, key: str) -> None:
    clock = Clock()
    rate, sleeps = shared(env, clock)

    rate.acquire(key, A, 2, max_wait_s=1.0)
    rate.acquire(key, A, 1, max_wait_s=1.0)

    assert sleeps == pytest.approx([0.0, 2 * INTERVAL], abs=1e-5)


def test_recipients_count_as_calls(env: Env, key: str) -> None:
    """A call to 30 recipients takes 30 slots: Sinch counts messages, not requests."""
    clock = Clock()
    rate, sleeps = shared(env, clock)

    assert rate.acquire(key, A, 30, max_wait_s=1.0) == Grant(30)
    other = rate.acquire(key, B, 1, max_wait_s=1.0)
    assert other.calls == 0

    clock.advance(30 * INTERVAL - 0.5)
    assert rate.acquire(key, B, 1, max_wait_s=1.0, turn=other.turn) == Grant(1)
    assert sleeps[-1] == pytest.approx(0.5, abs=1e-5)


def test_an_idle_spell_gives_no_burst(env: Env, key: str) -> None:
    clock = Clock()
    rate, sleeps = shared(env, clock)
    rate.acquire(key, A, 1, max_wait_s=1.0)
    clock.advance(60)

    assert rate.acquire(key, A, 1, max_wait_s=1.0) == Grant(1)
    assert rate.acquire(key, A, 1, max_wait_s=1.0) == Grant(1)

    assert sleeps == pytest.approx([0.0, 0.0, INTERVAL], abs=1e-5), "after the idle minute, one at a time"


def test_a_lone_429_costs_every_sender_one_slot_not_the_retry_after(env: Env, key: str) -> None:
    clock = Clock()
    rate, sleeps = shared(env, clock)
    other_sender = SharedRate(env.ddb, env.table, RATE, clock=clock, sleep=sleeps)
    rate.acquire(key, A, 1, max_wait_s=1.0)  # the schedule's next slot is one interval on

    rate.hold_off(key, 5.0)

    assert other_sender.acquire(key, A, 1, max_wait_s=1.0) == Grant(1)
    assert sleeps == pytest.approx([0.0, 2 * INTERVAL], abs=1e-5), "one slot skipped"


def test_a_second_429_within_a_second_holds_every_sender_off_and_is_never_shortened(
    env: Env, key: str
) -> None:
    clock = Clock()
    rate, sleeps = shared(env, clock)
    other_sender = SharedRate(env.ddb, env.table, RATE, clock=clock, sleep=sleeps)
    rate.acquire(key, A, 1, max_wait_s=1.0)
    rate.hold_off(key, 5.0)
    clock.advance(0.5)

    other_sender.hold_off(key, 5.0)
    rate.hold_off(key, 2.0)

    held = other_sender.acquire(key, A, 1, max_wait_s=1.0)
    assert held.calls == 0 and 4.0 <= held.wait_s <= 5.0, "until the 5 s are nearly over, not 2"
    clock.advance(held.wait_s)
    assert other_sender.acquire(key, A, 1, max_wait_s=1.0, turn=held.turn) == Grant(1)
    assert sleeps[-1] == pytest.approx(5.0 - held.wait_s, abs=1e-4)


def test_429s_more_than_a_second_apart_are_each_alone(env: Env, key: str) -> None:
    clock = Clock()
    rate, sleeps = shared(env, clock)
    rate.acquire(key, A, 1, max_wait_s=1.0)
    rate.hold_off(key, 5.0)
    clock.advance(1.5)

    rate.hold_off(key, 5.0)

    assert rate.acquire(key, A, 1, max_wait_s=1.0) == Grant(1)
    assert sleeps == pytest.approx([0.0, INTERVAL], abs=1e-5), "one slot skipped, no second of idling"


@pytest.fixture
def serial_dynamodb(env: Env) -> Iterator[DynamoDBClient]:
    """The same moto state, served as DynamoDB serves one item: one write after another (plain
    moto server applies concurrent updates of one item in parallel, losing some)."""
    server = MotoServer("127.0.0.1", 0)
    url = server.start()
    yield aws.client("dynamodb", url, env.template.region)
    server.stop()


def test_concurrent_senders_never_share_a_slot(env: Env, key: str, serial_dynamodb: DynamoDBClient) -> None:
    clock = Clock()  # stopped: every slot is the schedule's, none is lost to the time passing
    sleeps = Sleeps()  # recorded, not passed; list.append is atomic: the senders' threads share it

    def send(share: RateShare) -> None:
        # A container of its own each.
        rate = SharedRate(serial_dynamodb, env.table, RATE, clock=clock, sleep=sleeps)
        for _ in range(5):
            # One that loses every race it runs is told to come back: it asks again.
            while rate.acquire(key, share, 1, max_wait_s=60.0, turn=None).calls == 0:
                pass

    errors: list[BaseException] = []

    def guarded(share: RateShare) -> None:
        try:
            send(share)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(RateShare(f"t{i % 3}"),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    # Forty calls, each with a slot of its own.
    assert sorted(sleeps) == pytest.approx([i * INTERVAL for i in range(40)], abs=1e-4)


def test_when_dynamodb_cannot_be_asked_the_send_goes_rather_than_waits_unqueued(env: Env, key: str) -> None:
    unreachable = aws.client("dynamodb", "http://127.0.0.1:9", env.template.region)  # nothing listens
    rate = SharedRate(unreachable, env.table, RATE, sleep=Sleeps())

    assert rate.acquire(key, A, 1, max_wait_s=1.0) == Grant(1)
    rate.hold_off(key, 5.0)  # no error either: the 429 itself is still retried


# --- fair shares, played out ---------------------------------------------------------------------


@dataclass
class Sent:
    at: float  # when the call went (its slot)
    tenant: str
    asked_at: float  # when its message first asked


@dataclass
class Play:
    """Tenants' messages against one schedule, on a virtual clock: each asks the rate on a
    container of its own (a free one, or a new one: Lambda scales out); one told to wait comes
    back when told, rounded to whole seconds as SendQueue delays are, with its place."""

    db: DynamoDBClient
    table: str
    key: str  # the schedule's: one of its own
    patience_s: float = 1.0
    sent: list[Sent] = field(default_factory=list)
    asks: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.clock = VirtualTime(1_000_000.0)
        self.origin = self.clock.now
        self._free: list[SharedRate] = []

    def send(self, share: RateShare, per_s: float, start: float, stop: float) -> None:
        """`share`'s messages, `per_s` a second from `start` to `stop` (seconds from the origin)."""
        for i in range(round((stop - start) * per_s)):
            at = self.origin + start + i / per_s
            self.clock.start(at, functools.partial(self._ask, share, None, at))

    def _ask(self, share: RateShare, turn: Turn | None, asked_at: float) -> None:
        rate = self._free.pop() if self._free else self.container()
        try:
            grant = rate.acquire(self.key, share, 1, self.patience_s, turn)
        finally:
            self._free.append(rate)
        self.asks[share.tenant_id] += 1
        if grant.calls:
            self.sent.append(Sent(self.clock.now, share.tenant_id, asked_at))
        else:
            back = self.clock.now + round(grant.wait_s) + POLL_S
            self.clock.start(back, functools.partial(self._ask, share, grant.turn, asked_at))

    def container(self) -> SharedRate:
        return SharedRate(self.db, self.table, RATE, clock=self.clock, sleep=self.clock.sleep)

    def run(self, until: float) -> None:
        try:
            self.clock.run_until(self.origin + until)
        finally:
            self.clock.stop()
        assert self.clock.errors == [], self.clock.errors[:3]

    def rate_of(self, tenant: str, start: float, stop: float) -> float:
        begin, end = self.origin + start, self.origin + stop
        return sum(1 for s in self.sent if s.tenant == tenant and begin <= s.at < end) / (stop - start)

    def spaced(self) -> bool:
        """No two calls closer than the plan's interval."""
        times = sorted(s.at for s in self.sent)
        return all(b - a >= INTERVAL - 1e-5 for a, b in itertools.pairwise(times))


@pytest.fixture
def play(env: Env, key: str) -> Play:
    return Play(env.ddb, env.table, key)


FLOOD = 3 * RATE  # far past the plan's rate: a backlog growing by twice the rate every second


def test_a_tenant_alone_uses_the_whole_rate(play: Play) -> None:
    play.send(A, FLOOD, 0, 12)

    play.run(12)

    assert play.rate_of(A.tenant_id, 2, 12) >= 0.95 * RATE * HEADROOM
    assert play.spaced()


def test_while_a_floods_b_gets_half_the_rate_not_what_is_left_after_a(play: Play) -> None:
    play.send(A, FLOOD, 0, 20)
    play.send(B, 2 * RATE, 4, 20)  # more than half the rate

    play.run(20)

    a, b = play.rate_of(A.tenant_id, 8, 20), play.rate_of(B.tenant_id, 8, 20)
    assert a + b >= 0.95 * RATE * HEADROOM, "the plan's rate is still used in full"
    assert b == pytest.approx((a + b) / 2, rel=0.15), (a, b)
    assert play.spaced()


def test_a_tenant_sending_below_its_share_gets_every_call_through_at_once(play: Play) -> None:
    play.send(A, FLOOD, 0, 21)
    play.send(B, RATE / 5, 5, 20)  # well below its half

    play.run(21)

    b_sent = [s for s in play.sent if s.tenant == B.tenant_id]
    assert len(b_sent) == round(15 * RATE / 5)
    # Within its patience of asking, A's backlog notwithstanding.
    assert max(s.at - s.asked_at for s in b_sent) <= play.patience_s + 1e-6
    # And A has what B leaves.
    assert play.rate_of(A.tenant_id, 7, 20) + play.rate_of(B.tenant_id, 7, 20) >= 0.95 * RATE * HEADROOM


def test_a_weight_scales_a_tenants_share(play: Play) -> None:
    play.send(A, FLOOD, 0, 18)
    play.send(RateShare(B.tenant_id, weight=3.0), FLOOD, 3, 18)

    play.run(18)

    a, b = play.rate_of(A.tenant_id, 7, 18), play.rate_of(B.tenant_id, 7, 18)
    assert b / (a + b) == pytest.approx(0.75, abs=0.08), (a, b)


def test_a_cap_holds_a_tenant_below_it_even_when_the_rate_is_free(play: Play) -> None:
    play.send(RateShare(A.tenant_id, cap_per_s=3.0), FLOOD, 0, 12)

    play.run(12)

    went = sorted(s.at for s in play.sent)
    assert all(b - a >= 1 / 3.0 - 1e-5 for a, b in itertools.pairwise(went))
    assert play.rate_of(A.tenant_id, 2, 12) == pytest.approx(3.0, abs=0.2)


def test_a_capped_tenant_leaves_the_rest_to_the_others(play: Play) -> None:
    play.send(RateShare(A.tenant_id, cap_per_s=2.0), FLOOD, 0, 15)
    play.send(B, FLOOD, 0, 15)

    play.run(15)

    a, b = play.rate_of(A.tenant_id, 4, 15), play.rate_of(B.tenant_id, 4, 15)
    assert a == pytest.approx(2.0, abs=0.2)
    assert a + b >= 0.95 * RATE * HEADROOM, (a, b)
