"""Delivery-report webhooks: authentication, forward-only statuses, tolerance of Sinch's habits."""

import time
from typing import Any

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
    return body["id"], stored["batchId"]


def test_reports_move_the_status_forward(env: Env) -> None:
    message_id, batch = submitted(env)

    assert env.report(report(message_id, batch, "Dispatched", 401))[0] == 200
    assert env.report(report(message_id, batch, "Delivered", 0))[0] == 200

    stored = env.stored(message_id)
    assert stored["status"] == "delivered"
    assert [(e["status"], e.get("code")) for e in stored["events"][-2:]] == [
        ("dispatched", 401),
        ("delivered", 0),
    ]


def test_duplicated_and_late_reports_change_nothing(env: Env) -> None:
    message_id, batch = submitted(env)
    env.report(report(message_id, batch, "Delivered", 0))
    before = env.stored(message_id)

    for late in (
        report(message_id, batch, "Delivered", 0),
        report(message_id, batch, "Dispatched", 401),
        report(message_id, batch, "Failed", 402),
    ):
        status, _ = env.report(late)
        assert status == 200

    after = env.stored(message_id)
    assert after["status"] == "delivered"
    assert after["events"] == before["events"]


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


def test_a_report_for_an_unknown_message_is_acknowledged_and_creates_nothing(env: Env) -> None:
    status, body = env.report(report("no-such-message", "01JD8Y5K3M2N4P6Q8R0S2T4V6W", "Delivered", 0))

    assert (status, body) == (200, {"result": "unknown_message"})
    assert "Item" not in env.ddb.get_item(TableName=env.table, Key={"id": {"S": "no-such-message"}})


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
    unsigned = env.api(
        "DeliveryReportFunction", "POST", path="/v1/webhooks/sinch/delivery-reports", body="{}"
    )

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
