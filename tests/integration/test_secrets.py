"""The two secrets: read from Secrets Manager (moto), and a bad one named without its values.

A secret's error reaches the logs (and, through Powertools Tracer, X-Ray, which records the
exception's text and stack): whatever a broken secret holds must appear in neither.
"""

import json
import traceback
import uuid
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from sinch_gateway.data import aws
from sinch_gateway.sinch.credentials import (
    SecretInvalid,
    SecretStore,
    SecretUnavailable,
    SinchCredentials,
    WebhookSecrets,
)
from tests.integration.conftest import Env, forget_cached_secrets
from tests.integration.test_delivery_reports import report, submitted

PLANTED = "planted-9Zq-secret-value"
SENDER = "+12025550100"

BROKEN: dict[str, tuple[str, str]] = {
    "a value of the wrong type": (
        json.dumps({"service_plan_id": "plan", "api_token": {"token": PLANTED}, "from_number": SENDER}),
        "api_token: string_type",
    ),
    "a region Sinch does not have": (
        json.dumps({"service_plan_id": "p", "api_token": PLANTED, "from_number": SENDER, "region": PLANTED}),
        "region: literal_error",
    ),
    "a field missing": (
        json.dumps({"service_plan_id": PLANTED, "api_token": PLANTED}),
        "from_number: missing",
    ),
    "fields missing for its auth style": (
        json.dumps({"auth": "oauth", "project_id": PLANTED, "from_number": SENDER}),
        "lacks key_id, key_secret for auth oauth",
    ),
    "not JSON": ('{"service_plan_id": "plan", "api_token": "' + PLANTED + '"', "is not a JSON object"),
    "not an object": (json.dumps([PLANTED]), "model_type"),
}


def stored_secret(env: Env, value: str) -> str:
    return env.secrets.create_secret(Name=f"secret-{uuid.uuid4().hex[:8]}", SecretString=value)["ARN"]


def everything_said(exc: BaseException) -> str:
    return repr(exc) + "".join(traceback.format_exception(exc))


@pytest.mark.parametrize(("value", "named"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_sinch_secret_is_named_by_field_never_by_value(env: Env, value: str, named: str) -> None:
    store = SecretStore(
        stored_secret(env, value), SinchCredentials, 300, name="Sinch secret", client=aws.secretsmanager
    )
    with pytest.raises(SecretInvalid) as raised:
        store.get()
    assert str(raised.value).startswith("the Sinch secret ")
    assert named in str(raised.value)
    assert PLANTED not in everything_said(raised.value)


@pytest.mark.parametrize("model", [SinchCredentials, WebhookSecrets])
def test_the_models_own_errors_hide_the_input_too(model: type[BaseModel]) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate({"api_token": [PLANTED], "region": PLANTED, "webhook_secret": {"k": PLANTED}})
    assert PLANTED not in everything_said(raised.value)


def test_a_good_secret_is_read_and_cached(env: Env) -> None:
    secret_id = stored_secret(env, json.dumps({"webhook_secret": "first"}))
    store = SecretStore(secret_id, WebhookSecrets, 300, name="webhook secret", client=aws.secretsmanager)
    assert store.get().webhook_hmac_secret == "first"
    env.secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps({"webhook_secret": "second"}))
    assert store.get().webhook_hmac_secret == "first"
    assert store.get(refresh=True).webhook_hmac_secret == "second"
    # The cache is the container's: another store of the same secret sees the refreshed value.
    other = SecretStore(secret_id, WebhookSecrets, 300, name="webhook secret", client=aws.secretsmanager)
    assert other.get().webhook_hmac_secret == "second"


def test_a_secret_that_cannot_be_read_says_which_and_why_not_what(env: Env) -> None:
    missing = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-{uuid.uuid4().hex[:8]}"
    store = SecretStore(missing, SinchCredentials, 300, name="Sinch secret", client=aws.secretsmanager)
    with pytest.raises(SecretUnavailable) as raised:
        store.get()
    assert str(raised.value) == "the Sinch secret could not be read: ResourceNotFoundException"


# --- through the handlers: the answer and the log ------------------------------------------------


def put(env: Env, secret_id: str, value: Any) -> None:
    env.secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
    forget_cached_secrets()


def logged(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """All the handlers logged, tracebacks included (Powertools' Tracer logs the exception too)."""
    return capfd.readouterr().out + caplog.text


def test_a_broken_webhook_secret_fails_the_report_without_showing_it(
    env: Env, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    message_id, batch = submitted(env)
    put(env, env.webhook_secret_id, {"webhook_secret": {"key": PLANTED}})
    status, body = env.report(report(message_id, batch, "Delivered", 0))
    assert status == 500, body  # Sinch retries it; nothing was written
    assert PLANTED not in json.dumps(body)
    assert env.stored(message_id)["status"] == "submitted"
    text = logged(capfd, caplog)
    assert "the webhook secret is not valid: webhook_secret: string_type" in text
    assert PLANTED not in text


def test_a_broken_sinch_secret_holds_the_message_for_a_retry_without_showing_it(
    env: Env, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    put(env, env.secret_id, {"service_plan_id": "local-plan", "api_token": PLANTED, "region": PLANTED})
    status, body = env.send({"to": "+12025550143", "text": "Hello"})
    # A setup fault is no reason to lose the message: it waits on the queue for a fixed secret.
    assert (status, body["status"]) == (202, "retrying"), body
    assert env.retry_queued(body["id"], wait_s=5) is not None
    stored = env.stored(body["id"])
    reason = "the Sinch secret is not valid: region: literal_error; from_number: missing"
    assert reason in stored["events"][-1]["detail"]
    assert env.batch_requests() == []
    text = logged(capfd, caplog)
    assert PLANTED not in json.dumps(stored) + text
