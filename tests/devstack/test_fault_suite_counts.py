"""devstack.fault_suite's count of what Sinch took twice: messages by their client reference,
batch recipients by their number, over every call Sinch accepted (lost answers included)."""

from __future__ import annotations

from typing import Any

from devstack.fault_suite import Batches, doubled_in

XMS = "/xms/v1/local-plan/batches"


def sent(to: list[str], reference: str, status: int = 201, **more: Any) -> dict[str, Any]:
    body = {"to": to, "client_reference": reference}
    return {"method": "POST", "path": XMS, "body": body, "response": {"status": status}, **more}


def test_batch_recipients_are_counted_by_number_and_messages_by_reference() -> None:
    batches = Batches(count=2, size=3)
    first, second = batches.numbers(0), batches.numbers(1)
    assert len(set(first + second)) == 6 and "+12025550143" not in first + second
    requests = [
        sent(first, "batch-a:0"),
        sent(second[:2], "batch-b:0"),
        sent([second[1].removeprefix("+"), second[2]], "batch-b:1", dropped=True),  # second[1] again
        sent(second, "batch-b:0", status=503),  # refused: not taken
        sent(["+12025550143"], "message-1"),
        sent(["+12025550143"], "message-1"),  # the same message twice
        sent(["+12025550143"], "message-2"),
    ]
    assert doubled_in(requests, set(first + second)) == ["message-1", f"batch recipient {second[1]}"]


def test_calls_to_batch_recipients_may_share_a_reference() -> None:
    batches = Batches(count=1, size=4)
    numbers = batches.numbers(0)
    requests = [sent(numbers[:2], "batch-a"), sent(numbers[2:], "batch-a")]
    assert doubled_in(requests, set(numbers)) == []
