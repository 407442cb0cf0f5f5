"""Every queue record that fails is logged at ERROR with its reason: a SendQueue record that
raises (SQS delivers it again), is parked on the DeadLetterQueue, or whose message is given up;
a CallbackQueue record given up."""

import json
import logging
import uuid

import pytest

from sinch_gateway.api.queue_bodies import read_queued
from sinch_gateway.domain.outcomes import Transient
from tests.unit.fakes import GATEWAY_SENDER, PUBLISHER, Sending, sender_settings
from tests.unit.test_status_callbacks import Delivery, FakeReceiver
from tests.unit.test_usecase_queue_intake import SMS, TENANT, Queue


def errors(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.getMessage(), r.__dict__.get("reason", "")) for r in caplog.records if r.levelno == logging.ERROR
    ]


def retry(message_id: str) -> str:
    return json.dumps({"kind": "retry", "messageId": message_id})


@pytest.mark.parametrize(
    ("body", "tenant", "sender", "reason"),
    [
        ('{"kind": "retry"}', None, GATEWAY_SENDER, "invalid_request: a retry without a messageId"),
        (
            retry(str(uuid.uuid4())),
            None,
            GATEWAY_SENDER,
            "unknown_message: no such message (expired or never stored)",
        ),
        (retry(str(uuid.uuid4())), None, PUBLISHER, "retry_not_authorized: "),
        (json.dumps(SMS), None, PUBLISHER, "missing_tenant: "),
        (json.dumps(SMS), "nobody", PUBLISHER, "unknown_tenant: no tenant 'nobody' is registered"),
        (json.dumps(SMS), TENANT, None, "tenant_not_authorized: "),
        ('{"to": "+12025550143"}', TENANT, PUBLISHER, "invalid_request: "),
    ],
    ids=[
        "retry-without-id",
        "unknown-message",
        "forged-retry",
        "no-tenant",
        "unknown-tenant",
        "unproven-publisher",
        "invalid",
    ],
)
def test_a_parked_record_is_logged_at_error_with_why(
    caplog: pytest.LogCaptureFixture, body: str, tenant: str | None, sender: str | None, reason: str
) -> None:
    queue = Queue()

    with caplog.at_level(logging.ERROR):
        queue.intake.handle(read_queued(body), body, "sqs-1", tenant, sender_id=sender)

    (parked,) = queue.sending.queue.dead_letters
    assert errors(caplog) == [("queue record parked on the DeadLetterQueue", parked.reason)]
    assert parked.reason.startswith(reason)


def test_a_record_that_raises_is_logged_at_error_and_raised_again(caplog: pytest.LogCaptureFixture) -> None:
    queue = Queue()
    queue.sending.xms.on_send(lambda _: (_ for _ in ()).throw(ConnectionResetError("reset")))

    with caplog.at_level(logging.ERROR), pytest.raises(ConnectionResetError):
        queue.publish(SMS, "sqs-2")

    assert errors(caplog) == [("queue record failed: SQS delivers it again", "ConnectionResetError")]


def test_a_message_given_up_is_logged_at_error_with_why(caplog: pytest.LogCaptureFixture) -> None:
    queue = Queue(sending=Sending(sender_settings(MAX_SEND_ATTEMPTS="1")))
    queue.sending.xms.on_send(Transient("sinch_503"))

    with caplog.at_level(logging.ERROR):
        queue.publish(SMS, "sqs-3")

    assert errors(caplog) == [("giving up on the message", "retries_exhausted")]


@pytest.mark.parametrize(
    ("body", "secret", "age_s", "reason"),
    [
        ("not json", "s3cr3t", 0, "not a queued callback"),
        (None, None, 0, "the tenant has no callback secret to sign with"),
        (None, "s3cr3t", 86_400 - 60, "not taken within 86400 s; last: answered HTTP 503"),
    ],
    ids=["unreadable", "unsignable", "too-old"],
)
def test_a_status_callback_given_up_is_logged_at_error_with_why(
    caplog: pytest.LogCaptureFixture, body: str | None, secret: str | None, age_s: float, reason: str
) -> None:
    delivery = Delivery(FakeReceiver([503]), secret=secret)

    with caplog.at_level(logging.ERROR):
        delivery.handle(body, receive_count=40, age_s=age_s)

    assert [r for _, r in delivery.queue.dead] == [reason]
    assert errors(caplog) == [("status callback given up", reason)]


def slice_body(**changes: object) -> str:
    recipients = [{"to": "+12025550143"}]
    return json.dumps(
        {"kind": "slice", "batchId": "b1", "tenant": TENANT, "index": 0, "recipients": recipients, **changes}
    )


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (
            slice_body(recipients=[]),
            "invalid_request: a batch's slice that cannot be read: recipients",
            "queue record parked on the DeadLetterQueue",
        ),
        (slice_body(), "unknown_batch: ", "batch slice parked on the DeadLetterQueue"),
    ],
    ids=["malformed", "unknown-batch"],
)
def test_a_failed_slice_is_logged_at_error_with_why(
    caplog: pytest.LogCaptureFixture, body: str, reason: str, message: str
) -> None:
    queue = Queue()

    with caplog.at_level(logging.ERROR):
        queue.intake.handle(read_queued(body), body, "sqs-1", None, sender_id=GATEWAY_SENDER)

    (parked,) = queue.sending.queue.dead_letters
    assert errors(caplog) == [(message, parked.reason)]
    assert parked.reason.startswith(reason)
