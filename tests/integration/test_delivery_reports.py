"""Delivery-report webhooks: forward-only statuses, every report kept, tolerance of Sinch's habits."""

import json
import time
import uuid
from typing import Any

import pytest

from sinch_gateway.data.messages import MessageRepository
from sinch_gateway.domain.message import MAX_EVENTS
from tests.integration.conftest import Env, forget_cached_secrets

SMS = {"to": "+12025550143", "text": "Hello from the tests"}


def report(message_id: str, batch_id: str, status: str, code: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "recipient_delivery_report_sms",
        "batch_id": batch_id,
        "recipient": "+12025550143",
        "code": code,
        "status": status,
        "at": "2026-11-23T19:00:03.120Z",
        "client_reference": message_id,
        **extra,
    }


def submitted(env: Env) -> tuple[str, str]:
    _, body = env.send(SMS)
    stored = env.stored(body["id"])
    return body["id"], stored["sinchId"]


def test_reports_move_the_status_forward(env: Env) -> None:
    message_id, batch = submitted(env)

    assert env.report(report(message_id, batch, "Dispatched", 401))[0] == 200
    delivered = report(message_id, batch, "Delivered", 0, operator_status_at="2026-11-23T19:00:02Z")
    assert env.report(delivered)[0] == 200

    stored = env.stored(message_id)
    assert stored["status"] == "delivered"
    assert stored["events"][-2:] == [
        {"status": "dispatched", "at": "2026-11-23T19:00:03.120000Z", "code": 401},
        {
            "status": "delivered",
            "at": "2026-11-23T19:00:03.120000Z",
            "code": 0,
            "operatorAt": "2026-11-23T19:00:02Z",
        },
    ]


def test_duplicated_and_late_reports_are_kept_as_events_but_change_no_status(env: Env) -> None:
    message_id, batch = submitted(env)
    env.report(report(message_id, batch, "Delivered", 0))
    before = env.stored(message_id)

    for late in (
        report(message_id, batch, "Delivered", 0),
        report(message_id, batch, "Dispatched", 401, operator_status_at="2026-11-23T19:00:01Z"),
        report(message_id, batch, "Failed", 402),
    ):
        assert env.report(late) == (200, {"result": "stale"})

    after = env.stored(message_id)
    assert (after["status"], after["updatedAt"]) == ("delivered", before["updatedAt"])
    assert after["events"][: len(before["events"])] == before["events"]
    assert [
        (e["status"], e["code"], e.get("operatorAt"), e["stale"])
        for e in after["events"][len(before["events"]) :]
    ] == [
        ("delivered", 0, None, True),
        ("dispatched", 401, "2026-11-23T19:00:01Z", True),
        ("failed", 402, None, True),
    ]


def test_an_out_of_order_report_is_kept_but_does_not_move_the_status_back(env: Env) -> None:
    message_id, batch = submitted(env)

    assert env.report(report(message_id, batch, "Delivered", 0)) == (200, {"result": "moved"})
    assert env.report(report(message_id, batch, "Dispatched", 401)) == (200, {"result": "stale"})

    stored = env.stored(message_id)
    assert stored["status"] == "delivered"
    assert [(e["status"], e.get("stale")) for e in stored["events"][-2:]] == [
        ("delivered", None),
        ("dispatched", True),
    ]


def test_a_message_keeps_at_most_max_events(env: Env) -> None:
    message_id, batch = submitted(env)
    env.report(report(message_id, batch, "Delivered", 0))
    padding = [{"M": {"status": {"S": "delivered"}, "at": {"S": "2026-11-23T19:00:03Z"}}}]
    env.ddb.update_item(
        TableName=env.table,
        Key={"id": {"S": message_id}},
        UpdateExpression="SET events = list_append(events, :pad)",
        ExpressionAttributeValues={
            ":pad": {"L": padding * (MAX_EVENTS - len(env.stored(message_id)["events"]))}
        },
    )

    assert env.report(report(message_id, batch, "Delivered", 0)) == (200, {"result": "stale"})
    assert len(env.stored(message_id)["events"]) == MAX_EVENTS


def test_a_batch_report_moves_the_status_too(env: Env) -> None:
    message_id, batch = submitted(env)

    status, _ = env.report(
        {
            "type": "delivery_report_sms",
            "batch_id": batch,
            "total_message_count": 1,
            "statuses": [{"code": 406, "status": "Expired", "count": 1}],
            "client_reference": message_id,
        }
    )

    assert status == 200
    assert env.stored(message_id)["status"] == "expired"


def unmatched(env: Env, batch: str) -> list[dict[str, Any]]:
    items = env.scan(
        FilterExpression="begins_with(id, :prefix)",
        ExpressionAttributeValues={":prefix": {"S": f"unmatched#{batch}#"}},
    )
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def test_a_report_for_an_unknown_message_is_acknowledged_and_kept_a_week(env: Env) -> None:
    batch = f"01JD8Y5K3M2N4P6Q8R{uuid.uuid4().hex[:8].upper()}"
    orphan = report("no-such-message", batch, "Delivered", 0)

    status, body = env.report(orphan)
    assert env.report(orphan)[0] == 200  # Sinch sent it again: still one copy

    assert (status, body) == (200, {"result": "unknown_message"})
    assert "Item" not in env.ddb.get_item(TableName=env.table, Key={"id": {"S": "no-such-message"}})
    (kept,) = unmatched(env, batch)
    assert json.loads(kept["report"]) == orphan
    assert kept["reason"] == "unknown_message"
    assert abs(int(kept["ttl"]) - (time.time() + 7 * 86_400)) < 60
    assert "clientReference" not in kept  # never listed by the byClientReference index


@pytest.mark.parametrize(
    "orphan",
    [
        {"client_reference": None},
        {"status": "Vanished", "code": 999},  # well-formed, but a status we do not know
    ],
)
def test_reports_no_message_can_take_are_acknowledged_and_kept(env: Env, orphan: dict[str, Any]) -> None:
    message_id, batch = submitted(env)
    before = env.stored(message_id)
    unknown = {**report(message_id, batch, "Delivered", 0), **orphan}

    status, _ = env.report({k: v for k, v in unknown.items() if v is not None})

    assert status == 200
    assert env.stored(message_id) == before
    (kept,) = unmatched(env, batch)
    assert kept["reason"] == ("unknown_status" if "code" in orphan else "unknown_message")


def test_bookkeeping_items_are_no_messages(env: Env) -> None:
    batch = f"01JD8Y5K3M2N4P6Q8R{uuid.uuid4().hex[:8].upper()}"
    env.report(report("no-such-message", batch, "Delivered", 0))
    (kept,) = unmatched(env, batch)
    repository = MessageRepository(env.ddb, env.table)

    assert repository.get(kept["id"]) is None
    assert env.report(report(kept["id"], batch, "Delivered", 0)) == (200, {"result": "unknown_message"})
    assert "events" not in env.ddb.get_item(TableName=env.table, Key={"id": {"S": kept["id"]}})["Item"]


def test_an_unknown_report_type_is_a_400_and_writes_nothing(env: Env) -> None:
    message_id, batch = submitted(env)
    before = env.stored(message_id)

    status, body = env.report(report(message_id, batch, "Delivered", 0, type="recipient_delivery_report_fax"))

    assert status == 400
    assert body["errors"]
    assert env.stored(message_id) == before


def test_unauthenticated_reports_are_refused_and_write_nothing(env: Env) -> None:
    message_id, batch = submitted(env)
    before = env.stored(message_id)
    delivered = report(message_id, batch, "Delivered", 0)

    wrong_secret = env.report(delivered, secret="guessed")
    stale = env.report(delivered, timestamp=int(time.time()) - 600)
    unsigned = env.api("WebhookFunction", "POST", path="/v1/webhooks/sinch/delivery-reports", body="{}")

    for status, body in (wrong_secret, stale, unsigned):
        assert status == 401
        assert body["type"] == "/problems/unauthenticated"
    assert env.stored(message_id) == before


def test_without_a_webhook_secret_every_report_is_refused(env: Env) -> None:
    message_id, batch = submitted(env)
    before = env.stored(message_id)
    env.set_secret(webhook_secret="")
    forget_cached_secrets()

    status, _ = env.report(report(message_id, batch, "Delivered", 0), secret="")

    assert status == 401
    assert env.stored(message_id) == before
