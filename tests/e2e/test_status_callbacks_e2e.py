"""Status callbacks through the whole local stack: a receiver on 127.0.0.1 gets every status of a
message, in order, signed with its tenant's secret (checked by the sample in
docs/status-callbacks.md), and gets them all after being down for a while."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack import aws
from devstack.callback_receiver import CallbackReceiver
from sinch_gateway.domain.status_callbacks import signature
from tests.e2e.conftest import FINAL, ROOT, LocalStack

SMS = {"to": "+12025550143", "text": "Your parcel is on its way"}
Verify = Callable[[str, str, bytes], bool]


def docs_sample() -> Verify:
    """verify_signature from docs/status-callbacks.md, run as a reader would paste it."""
    text = (ROOT / "docs" / "status-callbacks.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/status-callbacks.md", "exec"), namespace)  # noqa: S102 - our own docs
    verify: Verify = namespace["verify_signature"]
    return verify


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as running:
        yield running


def ended(message_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda got: any(c["id"] == message_id and c["status"] in FINAL for c in got)


def statuses_of(stack: LocalStack, message_id: str) -> list[str]:
    """The statuses the message went through, as GET shows them (stale reports left out)."""
    events = stack.api("GET", f"/v1/messages/{message_id}").body["events"]
    return list(dict.fromkeys(e["status"] for e in events if not e.get("stale")))


def assert_in_order(callbacks: list[dict[str, Any]], statuses: list[str]) -> None:
    assert [c["status"] for c in callbacks] == statuses
    assert [c["previousStatus"] for c in callbacks] == [None, *statuses[:-1]]


def attempts_unanswered(stack: LocalStack, message_id: str) -> list[str]:
    """Why each callback of the message that got no HTTP answer at all was not taken, from
    CallbackFunction's log."""
    lines = (stack.state_dir / "logs" / "CallbackFunction.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    reasons = [str(e["reason"]) for e in entries if e.get("message_id") == message_id and "reason" in e]
    return [reason for reason in reasons if not reason.startswith("answered HTTP")]


def secret_of(stack: LocalStack, tenant: int) -> str:
    secret: str = stack.config["tenants"][tenant]["callback_secret"]
    return secret


def test_every_status_of_an_sms_reaches_the_receiver_in_order_and_signed(
    local: LocalStack, receiver: CallbackReceiver
) -> None:
    sent = local.api(
        "POST", "/v1/messages", {**SMS, "clientReference": "cb-1", "statusCallbackUrl": receiver.url}
    )
    assert sent.status == 202, sent.body
    message_id = sent.body["id"]

    callbacks = receiver.wait_for(ended(message_id), timeout=30)
    assert_in_order(callbacks, statuses_of(local, message_id))
    assert callbacks[-1]["status"] == "delivered" and len(callbacks) >= 3
    assert all(c["id"] == message_id and c["clientReference"] == "cb-1" for c in callbacks)
    assert set(callbacks[0]) == {"id", "status", "previousStatus", "at", "code", "clientReference"}

    verify, secret = docs_sample(), secret_of(local, 0)
    assert all(verify(secret, r.signature, r.body) for r in receiver.received)
    one = receiver.received[-1]
    assert not verify(secret, one.signature, one.body.replace(b"delivered", b"failed")), "a changed body"
    assert not verify(secret_of(local, 1), one.signature, one.body), "another tenant's secret"
    t = int(one.signature.split(",")[0].removeprefix("t="))
    assert abs(t - one.at) < 60
    replayed = signature(secret, one.body, t - 600)  # a callback recorded ten minutes ago
    assert not verify(secret, replayed, one.body), "a replay outside the tolerance"


def test_another_tenants_callbacks_are_signed_with_its_own_secret(
    local: LocalStack, receiver: CallbackReceiver
) -> None:
    other = local.config["tenants"][1]["api_key"]
    sent = local.api("POST", "/v1/messages", {**SMS, "statusCallbackUrl": receiver.url}, key=other)
    assert sent.status == 202, sent.body
    receiver.wait_for(ended(sent.body["id"]), timeout=30)
    verify = docs_sample()
    assert all(verify(secret_of(local, 1), r.signature, r.body) for r in receiver.received)
    assert not any(verify(secret_of(local, 0), r.signature, r.body) for r in receiver.received)


def test_a_receiver_that_was_down_gets_every_callback_once_it_is_back(local: LocalStack) -> None:
    receiver = CallbackReceiver().start()
    try:
        receiver.status = 500  # first it answers with errors...
        sent = local.api("POST", "/v1/messages", {**SMS, "statusCallbackUrl": receiver.url})
        assert sent.status == 202, sent.body
        message_id = sent.body["id"]
        deadline = time.monotonic() + 30
        while receiver.refused < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.refused >= 2, "the callback is tried again after a 500"
        receiver.stop()  # ...then refuses connections...
        assert local.wait_final(message_id)["status"] == "delivered", "sending does not wait for callbacks"
        deadline = time.monotonic() + 30
        while not (unreachable := attempts_unanswered(local, message_id)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert unreachable, "a callback was tried while the receiver was down"

        receiver.status = 200  # ...and comes back on the same port
        receiver.start()
        statuses = statuses_of(local, message_id)  # final already: these are all there will be
        callbacks = receiver.wait_for(
            lambda got: sorted(c["status"] for c in got if c["id"] == message_id) == sorted(statuses),
            timeout=60,
        )
        verify, secret = docs_sample(), secret_of(local, 0)
        assert all(verify(secret, r.signature, r.body) for r in receiver.received)
        assert_in_order(callbacks, statuses)
    finally:
        receiver.stop()


def test_a_request_from_the_queue_gets_its_callbacks_too(
    local: LocalStack, receiver: CallbackReceiver
) -> None:
    sqs = aws.publisher(local.config)  # the first tenant's publisher
    reference = f"queued-{uuid.uuid4().hex[:8]}"
    sqs.send_message(
        QueueUrl=local.config["send_queue_url"],
        MessageBody=json.dumps({**SMS, "clientReference": reference, "statusCallbackUrl": receiver.url}),
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": local.config["api_key_id"]}},
    )
    callbacks = receiver.wait_for(lambda got: any(c["status"] in FINAL for c in got), timeout=30)
    assert callbacks and callbacks[-1]["status"] == "delivered"
    assert_in_order(callbacks, statuses_of(local, callbacks[0]["id"]))
    assert callbacks[0]["clientReference"] == reference


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3/callbacks", "forbidden address"),
        ("http://169.254.169.254/latest/meta-data/", "forbidden address"),
        ("http://127.0.0.2:8080/callbacks", "forbidden address"),  # loopback, but not the allowed one
        ("http://[::1]:8080/callbacks", "forbidden address"),
        ("https://user:secret@hooks.example.com/callbacks", "user name or password"),
        ("ftp://hooks.example.com/callbacks", "https"),
        ("not a url", "URL"),
    ],
)
def test_a_callback_url_the_rules_refuse_is_a_422_and_nothing_is_sent_or_stored(
    local: LocalStack, url: str, reason: str
) -> None:
    reference = f"refused-{uuid.uuid4().hex[:8]}"
    answer = local.api(
        "POST", "/v1/messages", {**SMS, "clientReference": reference, "statusCallbackUrl": url}
    )
    assert answer.status == 422, answer.body
    (error,) = answer.body["errors"]
    assert error["field"] == "statusCallbackUrl" and reason in error["message"], error
    assert local.sinch_requests() == []
    assert local.api("GET", f"/v1/messages?clientReference={reference}").body["items"] == []


@pytest.mark.parametrize(
    ("service", "path"),
    [("sinch_url", "/_sim/reset"), ("aws_endpoint_url", "/moto-api/reset"), ("api_url", "/v1/messages")],
)
def test_a_callback_url_on_the_stacks_own_services_is_a_422_and_reaches_nothing(
    local: LocalStack, service: str, path: str
) -> None:
    """127.0.0.1:* allows any receiver on this machine but the stack's own simulator, moto and API."""
    rule = {"match": "dry_run", "status": 503, "times": 1}
    local.sim("POST", "/_sim/faults", {"rules": [rule]})
    reference = f"own-{uuid.uuid4().hex[:8]}"
    url = local.config[service].rstrip("/") + path
    try:
        answer = local.api(
            "POST", "/v1/messages", {**SMS, "clientReference": reference, "statusCallbackUrl": url}
        )
        assert answer.status == 422, answer.body
        (error,) = answer.body["errors"]
        assert error["field"] == "statusCallbackUrl" and "forbidden address" in error["message"], error
        assert local.sinch_requests() == []
        assert local.sim("GET", "/_sim/faults")["rules"][0]["match"] == "dry_run", (
            "the simulator kept its state"
        )
        listed = local.api("GET", f"/v1/messages?clientReference={reference}")
        assert (listed.status, listed.body["items"]) == (200, []), "moto kept the stack's tables and keys"
    finally:
        local.sim("POST", "/_sim/reset")


def test_a_reference_sqs_would_refuse_gets_its_callbacks_and_stalls_nobody(local: LocalStack) -> None:
    """U+FFFF and U+FFFE are text SQS refuses in a body: queued raw, the status change failed on
    the stream, over and over, and every tenant's callbacks waited behind it."""
    reference = "order-\uffff-\ufffe"
    with CallbackReceiver() as first, CallbackReceiver() as other:
        sent = local.api(
            "POST", "/v1/messages", {**SMS, "clientReference": reference, "statusCallbackUrl": first.url}
        )
        assert sent.status == 202, sent.body
        after = local.api(
            "POST",
            "/v1/messages",
            {**SMS, "statusCallbackUrl": other.url},
            key=local.config["tenants"][1]["api_key"],
        )
        assert after.status == 202, after.body
        callbacks = first.wait_for(ended(sent.body["id"]), timeout=30)
        assert_in_order(callbacks, statuses_of(local, sent.body["id"]))
        assert {c["clientReference"] for c in callbacks} == {reference}, "intact once JSON is decoded"
        others = other.wait_for(ended(after.body["id"]), timeout=30)
        assert others and others[-1]["status"] in FINAL, "another tenant's callbacks were not held up"
