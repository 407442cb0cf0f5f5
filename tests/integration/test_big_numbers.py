"""An integer longer than Python converts (more than sys.get_int_max_str_digits(), 4,300 digits) in
JSON from outside: json.loads raises a ValueError that is no JSONDecodeError. Wherever the product
reads JSON from outside, it is a clear refusal with nothing sent or recorded, never a 500."""

import json
import sys

import pytest

from tests.integration.conftest import WEBHOOK_SECRET, Env, forget_cached_secrets
from tests.integration.test_delivery_report_auth import signed, table

TOO_LONG = "9" * (sys.get_int_max_str_digits() + 1)
SMS = '{"to": "+12025550143", "text": "Hi"'


@pytest.mark.parametrize(
    "body",
    [
        SMS + ', "extra": ' + TOO_LONG + "}",
        SMS + ', "clientReference": ' + TOO_LONG + "}",
        '{"to": ' + TOO_LONG + ', "text": "Hi"}',
        SMS + ', "nested": {"a": [1, 2, -' + TOO_LONG + "]}}",
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_send_with_an_integer_past_4300_digits_is_a_400_and_nothing_is_sent_or_kept(
    env: Env, body: str, dry_run: bool
) -> None:
    before = table(env)
    headers = {"X-Dry-Run": "true"} if dry_run else {"Idempotency-Key": "big-number"}

    status, problem = env.api("SendFunction", "POST", path="/v1/messages", body=body, headers=headers)

    assert (status, problem["type"]) == (400, "/problems/invalid-json"), problem
    assert "more than 4300 digits" in problem["detail"]
    assert env.batch_requests() == []
    assert table(env) == before


def test_a_template_with_an_integer_past_4300_digits_is_a_400_and_nothing_is_saved(env: Env) -> None:
    before = table(env)
    body = '{"name": "n", "subject": "s", "slides": [{"text": ' + TOO_LONG + "}]}"

    status, problem = env.api("SendFunction", "POST", path="/v1/mms-templates", body=body)

    assert (status, problem["type"]) == (400, "/problems/invalid-json"), problem
    assert env.sim_call("GET", "/_sim/requests") == []
    assert table(env) == before


@pytest.mark.parametrize(
    "path",
    [
        "/v1/webhooks/sinch/delivery-reports",
        "/v1/webhooks/sinch/inbound",
        "/v1/webhooks/sinch/mms-postbacks/t0ken",
    ],
)
def test_a_signed_webhook_with_an_integer_past_4300_digits_is_a_400_and_writes_nothing(
    env: Env, path: str
) -> None:
    webhook = {"webhook_secret": WEBHOOK_SECRET, "postback_token": "t0ken"}
    env.secrets.put_secret_value(SecretId=env.webhook_secret_id, SecretString=json.dumps(webhook))
    forget_cached_secrets()
    before = table(env)
    body = '{"type": "delivery_report_sms", "batch_id": ' + TOO_LONG + ', "code": ' + TOO_LONG + "}"

    status, problem = env.api("WebhookFunction", "POST", path=path, body=body, headers=signed(body))

    assert status == 400, problem  # Sinch does not retry a 4xx
    assert table(env) == before


def test_a_queued_request_with_an_integer_past_4300_digits_is_parked_not_retried(env: Env) -> None:
    body = SMS + ', "extra": ' + TOO_LONG + "}"

    result = env.consume(body)

    assert result["result"] == {"batchItemFailures": []}  # not redelivered
    [(parked, attributes)] = env.dead_letters()
    assert parked == body
    assert "not JSON" in json.dumps(attributes)
    assert env.batch_requests() == []
