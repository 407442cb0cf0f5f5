"""data.receiver_health on moto: the breaker's item, its conditions, and callbacks going on when
DynamoDB cannot be asked."""

from __future__ import annotations

import uuid

from devstack import aws
from sinch_gateway.data.receiver_health import ReceiverHealthTable
from sinch_gateway.domain.status_callbacks import ReceiverHealth
from tests.integration.conftest import Env


def receiver() -> str:
    return f"t-{uuid.uuid4().hex[:8]}#https://hooks.example.com:443"


def test_failures_count_up_a_hold_is_set_once_a_probe_is_taken_once(env: Env) -> None:
    table = ReceiverHealthTable(env.ddb, env.table, clock=lambda: 1_800_000_000.0)
    name = receiver()
    assert table.get(name) == ReceiverHealth()
    assert table.add_failure(name).failures == 1
    assert table.add_failure(name).failures == 2
    assert table.hold(name, 100.0, 1, 50.0, unless_held=True)
    assert table.get(name) == ReceiverHealth(failures=0, holds=1, held_until=100.0)
    assert not table.hold(name, 200.0, 2, 60.0, unless_held=True), "another container's hold runs"
    assert not table.claim_probe(name, 99.0, 110.0), "not before the hold ends"
    assert table.claim_probe(name, 100.0, 110.0)
    assert not table.claim_probe(name, 100.0, 110.0), "one probe"
    assert table.hold(name, 300.0, 2, 105.0, unless_held=False), "the prober holds it again"
    assert table.get(name).holds == 2
    item = env.ddb.get_item(TableName=env.table, Key={"id": {"S": f"receiver#{name}"}})["Item"]
    assert int(item["ttl"]["N"]) > 1_800_000_000, "forgotten after a while"
    assert "tenantRef" not in item and "statusCallbackUrl" not in item, "no message, no listing"
    table.clear(name)
    assert table.get(name) == ReceiverHealth()


def test_when_dynamodb_cannot_be_asked_callbacks_go_on(env: Env) -> None:
    unreachable = aws.client("dynamodb", "http://127.0.0.1:9", env.template.region)  # refused at once
    table = ReceiverHealthTable(unreachable, env.table)
    name = receiver()
    assert table.get(name) == ReceiverHealth(), "healthy: the callback is POSTed"
    assert table.add_failure(name) == ReceiverHealth()
    assert table.hold(name, 100.0, 1, 50.0, unless_held=True) is False
    assert table.claim_probe(name, 100.0, 110.0) is True, "a held receiver's probe goes"
    table.clear(name)
