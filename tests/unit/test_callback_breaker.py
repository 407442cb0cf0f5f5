"""The status callback receivers' circuit breaker, on fakes: a receiver that hangs or keeps failing
is held, its callbacks wait without a POST (and without holding a worker), one probe finds out
when it is back; other receivers, and other tenants on the same host, are never held up."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest

from sinch_gateway.usecases.status_callbacks import CallbackFailed, QueuedRecord
from tests.unit.fakes import FakeReceiverHealth
from tests.unit.test_status_callbacks import (
    HANGS,
    OTHER_TENANT,
    TIMEOUT_S,
    URL,
    Delivery,
    FakeReceiver,
    callback_body,
)

OTHER_URL = "https://hooks.example.org/sms"
IDS = [f"0b9f2c9e-3c1a-4d8e-9a51-7b2f0c6e1d{n:02d}" for n in range(40)]


def hanging() -> Delivery:
    """A container whose receiver accepts the connection and never answers."""
    return Delivery(FakeReceiver([HANGS] * 100, takes_s=TIMEOUT_S))


def fail(delivery: Delivery, body: str, receive_count: int = 1) -> int:
    """Handle one callback that is not taken; how long it waits."""
    with pytest.raises(CallbackFailed) as failed:
        delivery.use_case.handle(body, f"rh-{len(delivery.queue.postponed)}", delivery.clock(), receive_count)
    return failed.value.delay_s


def test_a_receiver_that_lets_a_post_run_out_its_time_is_held_at_once() -> None:
    delivery = hanging()
    fail(delivery, callback_body(IDS[0]))
    assert len(delivery.receiver.posted) == 1
    # Its 39 other pending callbacks cost no POST, and so no worker's time.
    waits = [fail(delivery, callback_body(message_id)) for message_id in IDS[1:]]
    assert len(delivery.receiver.posted) == 1
    (health,) = delivery.health.items.values()
    assert health.holds == 1 and health.held_until is not None
    held_s = health.held_until - delivery.clock()
    # Back after the hold, spread over a quarter of it, or after their own backoff (5-10 s) if later.
    assert all(held_s <= wait <= max(10, held_s * 1.25 + 1) for wait in waits)
    assert len(set(waits)) > 1


def test_quick_failures_hold_a_receiver_only_when_they_come_five_in_a_row() -> None:
    delivery = Delivery(FakeReceiver([500, 500, 500, 500, 204, 500, 500, 500, 500, 500]))
    for n in range(4):
        fail(delivery, callback_body(IDS[n]))
    delivery.use_case.handle(callback_body(IDS[4]), "rh", delivery.clock(), 1)  # taken: a fresh start
    assert delivery.health.items == {}
    for n in range(5, 10):
        fail(delivery, callback_body(IDS[n]))
    fail(delivery, callback_body(IDS[10]))
    assert len(delivery.receiver.posted) == 10, "the 11th waited without a POST"


def test_another_receiver_and_another_tenant_on_the_same_host_are_not_held() -> None:
    delivery = hanging()
    fail(delivery, callback_body(IDS[0]))
    delivery.receiver.answers[:] = []
    delivery.receiver.takes_s = 0.0
    delivery.use_case.handle(callback_body(IDS[1], url=OTHER_URL), "rh", delivery.clock(), 1)
    delivery.use_case.handle(callback_body(IDS[2], tenant=OTHER_TENANT), "rh", delivery.clock(), 1)
    assert [url for url, _, _ in delivery.receiver.posted] == [URL, OTHER_URL, URL]


def test_when_the_hold_ends_one_probe_goes_and_a_taken_probe_frees_the_receiver() -> None:
    delivery = hanging()
    fail(delivery, callback_body(IDS[0]))
    (health,) = delivery.health.items.values()
    assert health.held_until is not None
    delivery.clock.advance(health.held_until - delivery.clock())
    delivery.receiver.answers[:] = []  # it is back: 204 from now on
    delivery.receiver.takes_s = 0.0
    for message_id in IDS[1:4]:
        delivery.use_case.handle(callback_body(message_id), "rh", delivery.clock(), 2)
    assert len(delivery.receiver.posted) == 4
    assert delivery.health.items == {}, "healthy again: no item left"


def test_a_refused_probe_holds_the_receiver_again_for_longer() -> None:
    delivery = hanging()
    fail(delivery, callback_body(IDS[0]))
    holds = []
    for n in range(1, 6):
        (health,) = delivery.health.items.values()
        assert health.held_until is not None
        delivery.clock.advance(health.held_until - delivery.clock())
        fail(delivery, callback_body(IDS[n]), receive_count=n + 1)  # the probe
        (health,) = delivery.health.items.values()
        assert health.held_until is not None
        holds.append((health.holds, health.held_until - delivery.clock()))
    assert [n for n, _ in holds] == [2, 3, 4, 5, 6]
    assert holds[-1][1] >= 80, "the fifth hold in a row lasts at least half of 10 * 2^5 s"
    assert len(delivery.receiver.posted) == 6, "one POST per hold: the probe"


def test_while_one_container_probes_the_others_hold_their_callbacks() -> None:
    first = hanging()
    second = Delivery(FakeReceiver(), clock=first.clock, health=first.health)
    fail(first, callback_body(IDS[0]))
    (receiver, health) = next(iter(first.health.items.items()))
    assert health.held_until is not None
    first.clock.advance(health.held_until - first.clock())
    assert first.breaker.passage(receiver, first.clock()).probe  # its probe's POST is running
    fail(second, callback_body(IDS[1]))
    assert second.receiver.posted == [], "the second container did not probe too"


def test_a_held_callback_still_goes_to_the_dead_letter_queue_at_its_max_age() -> None:
    delivery = hanging()
    fail(delivery, callback_body(IDS[0]))
    delivery.use_case.handle(callback_body(IDS[1]), "rh", delivery.clock() - 86_400 + 5, 30)
    ((_, reason),) = delivery.queue.dead
    assert "86400" in reason and "held" in reason
    assert len(delivery.receiver.posted) == 1


def test_a_held_callback_waits_at_least_its_own_backoff() -> None:
    delivery = hanging()
    fail(delivery, callback_body(IDS[0]))
    # The 12th try of a callback waits half an hour or more, hold or not: a held callback comes
    # back no more often than a failing one (CallbackQueue's maxReceiveCount counts on it).
    assert fail(delivery, callback_body(IDS[1]), receive_count=12) >= 1800


def test_a_healthy_receiver_costs_no_write_and_one_read_every_few_seconds() -> None:
    delivery = Delivery()
    for n in range(20):
        delivery.use_case.handle(callback_body(IDS[n]), "rh", delivery.clock(), 1)
        delivery.clock.advance(0.5)
    assert len(delivery.receiver.posted) == 20
    assert set(delivery.health.calls) == {"get"} and len(delivery.health.calls) <= 3


def test_the_health_of_a_failing_receiver_is_shared_by_every_container() -> None:
    first = hanging()
    second = Delivery(FakeReceiver(), clock=first.clock, health=first.health)
    fail(first, callback_body(IDS[0]))
    fail(second, callback_body(IDS[1]))
    assert second.receiver.posted == []


def test_a_batchs_messages_go_side_by_side_and_each_messages_in_order() -> None:
    """A receiver that takes its time delays its own message's callbacks, never the batch's others."""
    other_posted = threading.Event()
    order: list[str] = []

    def receiver(url: str, content: bytes, headers: Mapping[str, str]) -> int:
        if url == URL:
            order.append(f"slow:{other_posted.wait(5)}")
        else:
            other_posted.set()
        return 204

    delivery = Delivery()
    delivery.use_case._post = receiver
    batch = [
        QueuedRecord("a1", "A", callback_body(IDS[0]), "rh-a1", delivery.clock(), 1),
        QueuedRecord("b1", "B", callback_body(IDS[1], url=OTHER_URL), "rh-b1", delivery.clock(), 1),
    ]
    assert delivery.use_case.handle_batch(batch) == []
    assert order == ["slow:True"], "the other message's callback went while the first one's POST ran"


def test_a_failed_callback_holds_back_only_its_own_messages_later_ones_in_a_concurrent_batch() -> None:
    delivery = Delivery(FakeReceiver())
    delivery.receiver.answers[:] = []

    def receiver(url: str, content: bytes, headers: Mapping[str, str]) -> int:
        return 500 if url == URL else 204

    delivery.use_case._post = receiver
    batch = [
        QueuedRecord("a1", "A", callback_body(IDS[0]), "rh-a1", delivery.clock(), 1),
        QueuedRecord("b1", "B", callback_body(IDS[1], url=OTHER_URL), "rh-b1", delivery.clock(), 1),
        QueuedRecord("a2", "A", callback_body(IDS[0]), "rh-a2", delivery.clock(), 1),
        QueuedRecord("b2", "B", callback_body(IDS[1], url=OTHER_URL), "rh-b2", delivery.clock(), 1),
    ]
    assert delivery.use_case.handle_batch(batch) == ["a1", "a2"]
    (first, second) = delivery.queue.postponed
    assert (first[0], second[0]) == ("rh-a1", "rh-a2") and first[1] == second[1]


def test_the_store_refuses_a_second_hold_while_one_runs() -> None:
    store = FakeReceiverHealth()
    assert store.hold("r", 100.0, 1, 0.0, unless_held=True)
    assert not store.hold("r", 200.0, 1, 50.0, unless_held=True)
    assert not store.claim_probe("r", 50.0, 60.0)
    assert store.claim_probe("r", 100.0, 110.0)
