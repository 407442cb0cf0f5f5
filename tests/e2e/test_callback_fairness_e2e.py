"""Status callbacks under attack, through a local stack of its own (tenant A's callbacks stay
pending for a day, receivers held: no place for them in the shared stack): while tenant A has 40
callbacks pending to a receiver that accepts connections and never answers, and more to one that
answers 500, tenant B's callbacks all arrive, each message's in order, none lost; A's receivers
cost a few POSTs, not one per callback. How long B waits is `make bench`'s (devstack.bench_callbacks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.bench_callbacks import (
    dedicated_stack,
    pending_callbacks,
    send,
    statuses,
    tenant_a_broken,
    wait_for_final,
)
from devstack.callback_receiver import CallbackReceiver
from devstack.stack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with dedicated_stack() as running:
        yield running


def test_another_tenants_hanging_and_failing_receivers_hold_no_callback_of_b(stack: LocalStack) -> None:
    with tenant_a_broken(stack, hanging=40, failing=10) as (hangs, fails), CallbackReceiver() as b:
        assert pending_callbacks(stack) >= 40, "A's callbacks are pending"
        ids = [send(stack, 1, b.url, f"b-{n}") for n in range(5)]
        got = wait_for_final(stack, 1, b, ids, timeout_s=60)
        for message_id in ids:
            expected = statuses(stack, 1, message_id)
            assert [c["status"] for c in got[message_id]] == expected, message_id
            assert [c["previousStatus"] for c in got[message_id]] == [None, *expected[:-1]], message_id
        assert pending_callbacks(stack) >= 40, "A's callbacks still wait: held, not dropped"
        # Not held, each of A's 50 messages' first callback would be a POST, again after each
        # backoff; held, a receiver gets a few POSTs until it is held, then a probe now and then.
        assert hangs.hung <= 10, f"{hangs.hung} POSTs to the receiver that never answers"
        assert fails.refused <= 15, f"{fails.refused} POSTs to the receiver that answers 500"
