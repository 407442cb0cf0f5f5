"""POST /v1/messages's answers on fakes: what a message that ended at its first attempt tells the
client is the channel's verdict on Sinch's answer, not a second reading of the stored record."""

import json

import pytest

from sinch_gateway.api.models import SendMessageRequest
from sinch_gateway.domain.outcomes import AuthFailed, Refusal, Refused, Transient
from sinch_gateway.domain.status import Status
from tests.unit.test_usecase_inbound_intake import TENANT, Gateway


@pytest.mark.parametrize(
    ("refusal", "status", "problem"),
    [
        (Refusal.MESSAGE, 422, "/problems/sinch-rejected"),
        (Refusal.FORBIDDEN, 422, "/problems/sinch-forbidden"),
        (Refusal.SETUP, 502, "/problems/sinch-misconfigured"),
    ],
)
def test_a_refusal_is_answered_as_the_channel_judged_it(refusal: Refusal, status: int, problem: str) -> None:
    gateway = Gateway()
    # The same Sinch status and code each time: only the channel's verdict differs.
    gateway.sending.xms.on_send(Refused(400, "syntax_invalid_json", "no", refusal))

    answered, body = gateway.send()

    assert (answered, body["type"], body["sinchStatus"], body["sinchCode"]) == (
        status,
        problem,
        400,
        "syntax_invalid_json",
    )
    [record] = gateway.sending.store.records()
    assert (body["messageId"], record.status) == (record.id, Status.REJECTED)


def test_refused_credentials_are_a_502_naming_the_message() -> None:
    gateway = Gateway()
    gateway.sending.xms.on_send(AuthFailed("Sinch answered 401"))

    answered, body = gateway.send()

    [record] = gateway.sending.store.records()
    assert (answered, body["type"], body["sinchStatus"], body["messageId"]) == (
        502,
        "/problems/sinch-misconfigured",
        401,
        record.id,
    )
    assert record.status is Status.FAILED


def test_a_message_taken_for_a_retry_is_accepted_with_its_location() -> None:
    gateway = Gateway()
    gateway.sending.xms.on_send(Transient("sinch_503"))

    request = SendMessageRequest.model_validate({"to": "+12025550143", "text": "Your order has shipped"})
    answer = gateway.messages.answer(request, "https://api.example.com/v1/webhooks/sinch", TENANT)

    body = json.loads(answer.body)
    assert (answer.status, body["status"]) == (202, "retrying")
    assert answer.headers["Location"] == f"/v1/messages/{body['id']}"
