"""The roles' conditions against the very requests the data adapters make: each narrowing in
tests/least_privilege.py allows what the code sends and refuses what it must not.

The adapters run on a client that records each request (devstack.aws_calls' record, as the local
stack's workers write it) and answers as DynamoDB would for the path under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.aws_calls import _record
from sinch_gateway.data.inbound import InboundRepository, OptOutRepository
from sinch_gateway.data.messages import MessageRepository, message_item, to_item
from sinch_gateway.data.templates import TemplateRepository
from sinch_gateway.data.tenants import POLICY_ATTRIBUTES, TenantDirectory
from sinch_gateway.domain.content import Channel, SmsContent
from sinch_gateway.domain.inbound import Action, InboundMessage
from sinch_gateway.domain.message import Change, MessageRecord, StatusEvent
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.templates import TemplateStatus
from tests.least_privilege import arn, canonical, permits

MESSAGES, TENANTS = canonical(arn("MessagesTable")), canonical(arn("TenantsTable"))
MESSAGE_ID = "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"


class RecordingTable:
    """A DynamoDB client that records each request as the local stack's recorder does."""

    def __init__(self, items: dict[str, dict[str, Any]] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self._items = items or {}  # what GetItem finds, by id

    def _keep(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(_record(f"dynamodb:{operation}", params))
        return {}

    def get_item(self, **params: Any) -> dict[str, Any]:
        self._keep("GetItem", params)
        item = self._items.get(params["Key"]["id"]["S"]) if "id" in params["Key"] else None
        return {"Item": item} if item else {}

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self._keep("UpdateItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._keep("PutItem", params)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's
        self.calls.append(_record("dynamodb:BatchGetItem", {"RequestItems": RequestItems}))
        return {"Responses": {table: [] for table in RequestItems}}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's
        kinds = {"Put": "PutItem", "Update": "UpdateItem"}
        for entry in TransactItems:
            for kind, params in entry.items():
                self._keep(kinds[kind], params)
        return {}


def test_a_senders_tenant_read_projects_the_policy_and_is_allowed() -> None:
    table = RecordingTable()
    TenantDirectory(table, "Tenants", 0, attributes=POLICY_ATTRIBUTES).get("k1l2m3n4o5")  # type: ignore[arg-type]

    (call,) = table.calls
    assert call["select"] == "SPECIFIC_ATTRIBUTES"
    for function in ("SendFunction", "QueueFunction"):
        assert permits(function, call, TENANTS) is not None


def test_a_senders_tenant_read_without_the_projection_is_refused() -> None:
    # Callback secrets included: what CallbackFunction reads, and Send/Retry must not.
    table = RecordingTable()
    TenantDirectory(table, "Tenants", 0).get("k1l2m3n4o5")  # type: ignore[arg-type]

    (whole,) = table.calls
    secret = {**whole, "attributes": [*POLICY_ATTRIBUTES, "callbackSecret"], "select": "SPECIFIC_ATTRIBUTES"}
    for function in ("SendFunction", "QueueFunction"):
        assert permits(function, whole, TENANTS) is None
        assert permits(function, secret, TENANTS) is None
    assert permits("CallbackFunction", whole, TENANTS) is not None


def test_a_batchs_bulk_opt_out_read_is_allowed_and_for_the_api_only_for_opt_outs() -> None:
    table = RecordingTable()
    recipients = [f"+1202555{n:04d}" for n in range(150)]
    OptOutRepository(table, "Messages").opted_out_all(recipients, "+12025550100")  # type: ignore[arg-type]

    assert [len(c["ids"]) for c in table.calls] == [100, 50]
    for call in table.calls:
        assert call["TableName"] == "Messages"
        assert permits("SendFunction", call, MESSAGES) is not None
        assert permits("SendFunction", {**call, "ids": [*call["ids"], MESSAGE_ID]}, MESSAGES) is None
        # QueueFunction reads in bulk the messages a batch's slice made too: any item, by its id.
        assert permits("QueueFunction", {**call, "ids": [*call["ids"], MESSAGE_ID]}, MESSAGES) is not None
        assert permits("WebhookFunction", call, MESSAGES) is None


def report_writes() -> list[dict[str, Any]]:
    """The updates WebhookFunction makes: a final status move, a stale report's event, an
    opt-out (with its inbound SMS), a template's settlement."""
    # A stale report's event is folded into the message's last one: its writer reads it first.
    submitted = MessageRecord(
        id=MESSAGE_ID,
        tenant_id="k1l2m3n4o5",
        to="+12025550143",
        content=SmsContent(text="hi"),
        status=Status.SUBMITTED,
        events=[StatusEvent(status=Status.SUBMITTED, at=datetime.now(UTC))],
    )
    table = RecordingTable({MESSAGE_ID: to_item(message_item(submitted))})
    messages = MessageRepository(table, "Messages")  # type: ignore[arg-type]
    event = StatusEvent(status=Status.DELIVERED, at=datetime.now(UTC), code=0)
    messages.advance(MESSAGE_ID, event, once="nonce-1", change=Change(delivered_as=Channel.SMS))
    messages.append_event(MESSAGE_ID, event, once="nonce-2")
    stop = InboundMessage(
        id="01HINBOUND",
        from_="+12025550143",
        to="12025550100",
        body="STOP",
        action=Action.OPTED_OUT,
        received_at=datetime.now(UTC),
        created_at=datetime.now(UTC),
    )
    InboundRepository(table, "Messages", 7).record(stop)  # type: ignore[arg-type]
    templates = TemplateRepository(table, "Messages")  # type: ignore[arg-type]
    templates.settle(MESSAGE_ID, TemplateStatus.READY, mms_id="m", tracking_id="t")
    return [c for c in table.calls if c["action"] == "dynamodb:UpdateItem"]


def test_every_update_the_webhook_makes_is_allowed() -> None:
    updates = report_writes()

    assert len(updates) == 4
    for call in updates:
        assert permits("WebhookFunction", call, MESSAGES) is not None, call


@pytest.mark.parametrize(
    "forged",
    [
        {"attributes": ["id", "status", "tenantId"]},  # a message any tenant would see
        {"attributes": ["id", "statusCallbackUrl"]},  # another tenant's callbacks sent elsewhere
        {"attributes": ["id", "to", "status"]},
        {"id": "rate#xms"},  # another kind of item
        {"id": "tenant-item"},
        {"id": "optout#+12025550143", "attributes": ["id", "tenantRef"]},
        {"id": "template#x", "attributes": ["id", "slides"]},
    ],
)
def test_an_update_the_webhook_never_makes_is_refused(forged: dict[str, Any]) -> None:
    status_move = report_writes()[0]

    assert permits("WebhookFunction", {**status_move, **forged}, MESSAGES) is None


@pytest.mark.parametrize("function", ["SendFunction", "QueueFunction"])
def test_a_sender_may_read_an_opt_out_never_write_one(function: str) -> None:
    (opt_out,) = [c for c in report_writes() if c["id"].startswith("optout#")]
    move = report_writes()[0]
    read = {
        "action": "dynamodb:GetItem",
        "id": opt_out["id"],
        "attributes": ["id"],
        "select": "ALL_ATTRIBUTES",
    }

    assert permits(function, read, MESSAGES) is not None
    assert permits(function, move, MESSAGES) is not None, "its own status moves"
    for action in ("dynamodb:UpdateItem", "dynamodb:PutItem"):
        assert permits(function, {**opt_out, "action": action}, MESSAGES) is None
        assert permits(function, {**move, "action": action, "id": "inbound#01HFORGED"}, MESSAGES) is None
