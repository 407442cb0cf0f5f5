"""The shared Sinch rate on DynamoDB (moto): slots spaced at the rate, a caller told when there
is no room within its patience, no burst after an idle spell, a lone 429 costing one slot and a
second one a shared hold-off, and
concurrent senders never given the same slot."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from devstack import aws
from devstack.moto_server import MotoServer
from sinch_gateway.data.rate_limit import HEADROOM, SharedRate
from tests.integration.conftest import Env
from tests.unit.fakes import Clock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RATE = 10.0
INTERVAL = 1 / (RATE * HEADROOM)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def shared(env: Env, clock: Callable[[], float], sleep: Callable[[float], None]) -> SharedRate:
    return SharedRate(env.ddb, env.table, RATE, clock=clock, sleep=sleep)


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # a schedule of its own, whatever ran before


def test_callers_at_one_moment_get_consecutive_slots(env: Env, key: str) -> None:
    clock, sleeps = Clock(), Sleeps()
    rate = shared(env, clock, sleeps)

    assert [rate.acquire(key, max_wait_s=1.0) for _ in range(5)] == [0.0] * 5

    # The first starts the schedule now; each next one sleeps one interval more.
    assert sleeps == pytest.approx([i * INTERVAL for i in range(1, 5)], abs=1e-5)


def test_no_room_within_the_callers_patience_takes_nothing_and_says_how_long(env: Env, key: str) -> None:
    clock, sleeps = Clock(), Sleeps()
    rate = shared(env, clock, sleeps)
    for _ in range(3):  # slots at 0, 1 and 2 intervals
        rate.acquire(key, max_wait_s=0.25)

    wait = rate.acquire(key, max_wait_s=0.25)

    assert wait == pytest.approx(3 * INTERVAL, abs=1e-5)
    assert rate.acquire(key, max_wait_s=0.5) == 0.0
    assert sleeps[-1] == pytest.approx(3 * INTERVAL, abs=1e-5), "the refused call took no slot"


def test_a_lookup_and_a_send_take_two_slots(env: Env, key: str) -> None:
    clock, sleeps = Clock(), Sleeps()
    rate = shared(env, clock, sleeps)

    rate.acquire(key, max_wait_s=1.0, calls=2)
    rate.acquire(key, max_wait_s=1.0)

    assert sleeps == pytest.approx([2 * INTERVAL], abs=1e-5)


def test_an_idle_spell_gives_no_burst(env: Env, key: str) -> None:
    clock, sleeps = Clock(), Sleeps()
    rate = shared(env, clock, sleeps)
    rate.acquire(key, max_wait_s=1.0)
    clock.advance(60)

    assert rate.acquire(key, max_wait_s=1.0) == 0.0
    assert rate.acquire(key, max_wait_s=1.0) == 0.0

    assert sleeps == pytest.approx([INTERVAL], abs=1e-5), "after the idle minute, one slot at a time"


def test_a_lone_429_costs_every_sender_one_slot_not_the_retry_after(env: Env, key: str) -> None:
    clock, sleeps = Clock(), Sleeps()
    rate, other_sender = shared(env, clock, sleeps), shared(env, clock, sleeps)
    rate.acquire(key, max_wait_s=1.0)  # the schedule's next slot is one interval on

    rate.hold_off(key, 5.0)

    assert other_sender.acquire(key, max_wait_s=1.0) == 0.0
    assert sleeps == pytest.approx([2 * INTERVAL], abs=1e-5), "one slot skipped"


def test_a_second_429_within_a_second_holds_every_sender_off_and_is_never_shortened(
    env: Env, key: str
) -> None:
    clock, sleeps = Clock(), Sleeps()
    rate, other_sender = shared(env, clock, sleeps), shared(env, clock, sleeps)
    rate.acquire(key, max_wait_s=1.0)
    rate.hold_off(key, 5.0)
    clock.advance(0.5)

    other_sender.hold_off(key, 5.0)
    rate.hold_off(key, 2.0)

    assert other_sender.acquire(key, max_wait_s=1.0) == pytest.approx(5.0, abs=1e-5)
    clock.advance(5.0)
    assert other_sender.acquire(key, max_wait_s=1.0) == 0.0


def test_429s_more_than_a_second_apart_are_each_alone(env: Env, key: str) -> None:
    clock, sleeps = Clock(), Sleeps()
    rate = shared(env, clock, sleeps)
    rate.acquire(key, max_wait_s=1.0)
    rate.hold_off(key, 5.0)
    clock.advance(1.5)

    rate.hold_off(key, 5.0)

    assert rate.acquire(key, max_wait_s=1.0) == 0.0
    assert sleeps == pytest.approx([INTERVAL], abs=1e-5), "one slot skipped, no second of idling"


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
    sleeps = Sleeps()  # list.append is atomic: the senders' threads share it

    def send() -> None:
        # A container of its own each.
        rate = SharedRate(serial_dynamodb, env.table, RATE, clock=clock, sleep=sleeps)
        for _ in range(5):
            assert rate.acquire(key, max_wait_s=60.0) == 0.0

    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            send()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    # One call started the schedule without a sleep; the other 39 each got a slot of their own.
    assert sorted(sleeps) == pytest.approx([i * INTERVAL for i in range(1, 40)], abs=1e-4)


def test_when_dynamodb_cannot_be_asked_the_send_goes_rather_than_waits_unqueued(env: Env, key: str) -> None:
    unreachable = aws.client("dynamodb", "http://127.0.0.1:9", env.template.region)  # nothing listens
    rate = SharedRate(unreachable, env.table, RATE, sleep=Sleeps())

    assert rate.acquire(key, max_wait_s=1.0) == 0.0
    rate.hold_off(key, 5.0)  # no error either: the 429 itself is still retried
