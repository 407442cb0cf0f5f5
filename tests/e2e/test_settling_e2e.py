"""Statuses that settle, through a local stack of its own (ReportGraceSeconds of 2 s, not the
default 15 minutes; the session's stack keeps the default): with Sinch's reports and postbacks
dropped, every message still ends final: delivered through the XMS lookup, or expired with the
code no_final_report at its expireAt where nothing can tell (the MMS JSON API, or a lookup that
fails)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.callback_receiver import CallbackReceiver
from tests.e2e.conftest import LocalStack

GRACE_S = 2
DROP_REPORTS = {"match": "callbacks", "drop": True}
TO = "+12025550143"


@pytest.fixture(scope="module")
def quick_to_settle() -> Iterator[LocalStack]:
    """A stack whose settle checks come ReportGraceSeconds = GRACE_S after Sinch took a message.
    Named apart: moto's backends are the process's, and so are other stacks'."""
    from devstack.stack import LocalStack as Stack
    from devstack.stack import StackConfig

    with tempfile.TemporaryDirectory(prefix="settle-") as state_dir:
        config = StackConfig.on_free_ports(
            Path(state_dir),
            stack_name=f"settle-{uuid.uuid4().hex[:8]}",
            tracing=False,
            parameter_overrides={"ReportGraceSeconds": str(GRACE_S)},
        )
        with Stack(config, log=lambda line: None) as stack:
            yield LocalStack(stack.state(), Path(state_dir))


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as running:
        yield running


@pytest.fixture
def local(quick_to_settle: LocalStack) -> LocalStack:
    quick_to_settle.sim("POST", "/_sim/reset")
    return quick_to_settle


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0).isoformat()


def reports_posted(local: LocalStack) -> list[dict[str, Any]]:
    return list(local.sim("GET", "/_sim/callbacks"))


def test_an_sms_whose_reports_are_dropped_is_delivered_through_the_lookup(local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [DROP_REPORTS]})
    sent = local.api("POST", "/v1/messages", {"to": TO, "text": "Your parcel is out for delivery"})
    assert (sent.status, sent.body["status"]) == (202, "submitted"), sent.body

    message = local.wait_final(sent.body["id"], timeout=60)

    assert message["status"] == "delivered", message
    assert message["events"][-1]["detail"].startswith("looked up at Sinch")
    assert reports_posted(local) == [], "Sinch posted no report: only the lookup could tell"
    lookups = [r for r in local.sim("GET", "/_sim/requests") if "/delivery_report/" in r["path"]]
    assert [r["response"]["status"] for r in lookups] == [200]


def test_a_rich_mms_whose_postbacks_are_dropped_ends_expired_no_final_report_at_its_expiry(
    local: LocalStack, receiver: CallbackReceiver
) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [DROP_REPORTS]})
    expire_at = in_seconds(6)
    body = {
        "to": TO,
        "subject": "Spring sale",
        "fallbackText": "Our spring sale is on",
        "slides": [{"text": "Spring is here"}],
        "expireAt": expire_at,
        "statusCallbackUrl": receiver.url,
    }
    sent = local.api("POST", "/v1/messages", body)
    assert (sent.status, sent.body["status"]) == (202, "submitted"), sent.body
    (request,) = [r for r in local.sim("GET", "/_sim/requests") if r["path"].startswith("/ep/v2")]
    assert datetime.fromisoformat(request["body"]["mms-expiry-timestamp"]) == datetime.fromisoformat(
        expire_at
    )

    message = local.wait_final(sent.body["id"], timeout=60)

    assert (message["status"], message["error"]["code"]) == ("expired", "no_final_report"), message
    assert datetime.fromisoformat(message["updatedAt"]) >= datetime.fromisoformat(expire_at)
    assert "no lookup" in message["error"]["text"]
    told = receiver.wait_for(lambda got: any(c["status"] == "expired" for c in got), timeout=30)
    assert [(c["status"], c.get("code")) for c in told if c["status"] == "expired"] == [
        ("expired", "no_final_report")
    ], "the caller's status callback heard it"


def test_an_sms_with_no_final_word_at_sinch_ends_expired_at_its_expiry(local: LocalStack) -> None:
    lookup_fails = {"match": "batch_lookup", "status": 503}
    local.sim("POST", "/_sim/faults", {"rules": [DROP_REPORTS, lookup_fails]})
    expire_at = in_seconds(6)
    sent = local.api("POST", "/v1/messages", {"to": TO, "text": "Sale ends today", "expireAt": expire_at})
    assert sent.status == 202, sent.body

    message = local.wait_final(sent.body["id"], timeout=60)

    assert (message["status"], message["error"]["code"]) == ("expired", "no_final_report"), message
    assert message["expireAt"] == sent.body["expireAt"]
    lookups = [r for r in local.sim("GET", "/_sim/requests") if "/delivery_report/" in r["path"]]
    assert lookups and all(r["response"]["status"] == 503 for r in lookups), "it was asked, and failed"
