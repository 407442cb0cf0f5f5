"""SendQueue: requests other services publish, retries, and what ends on the DeadLetterQueue."""

import json
import time
from typing import Any

import pytest

from sinch_gateway.domain.tenants import TenantPolicy
from tests.integration.conftest import PUBLISHER, TENANT, Env

SMS = {"to": "+12025550143", "text": "Published by another service"}


def published(env: Env, *bodies: Any) -> dict[str, Any]:
    return env.consume(*(b if isinstance(b, str) else json.dumps(b) for b in bodies))


def derived_id(sqs_message_id: str, key: str | None = None) -> str:
    from sinch_gateway.usecases.queue_intake import queued_message_id

    return queued_message_id(TENANT, sqs_message_id, key)


def test_a_published_request_becomes_a_message_the_api_finds(env: Env) -> None:
    outcome = published(env, {**SMS, "clientReference": "from-sqs"})

    assert outcome["result"] == {"batchItemFailures": []}
    message = env.stored(derived_id(outcome["ids"][0]))
    assert (message["status"], message["clientReference"]) == ("submitted", "from-sqs")
    (sent,) = env.batch_requests()
    assert sent["body"]["client_reference"] == message["id"]


def test_the_same_sqs_message_delivered_twice_is_sent_once(env: Env) -> None:
    first = published(env, SMS)
    event = json.loads(open_event())
    record = {
        **event,
        "messageId": first["ids"][0],
        "body": json.dumps(SMS),
        "messageAttributes": {"tenant": {"stringValue": TENANT, "dataType": "String"}},
        "attributes": {**event["attributes"], "SenderId": PUBLISHER},
    }

    again = env.handler("QueueFunction")({"Records": [record]})

    assert again == {"batchItemFailures": []}
    assert len(env.batch_requests()) == 1
    assert env.dead_letters() == [], "taken as the same message, not refused"


def open_event() -> str:
    from tests.integration.conftest import ROOT

    return json.dumps(json.loads((ROOT / "events" / "sqs-retry.json").read_text())["Records"][0])


def test_one_idempotency_key_is_one_message_across_publications(env: Env) -> None:
    key = f"order-{time.time()}"
    published(env, {**SMS, "idempotencyKey": key})
    published(env, {**SMS, "idempotencyKey": key})

    assert len(env.batch_requests()) == 1
    assert env.stored(derived_id("ignored", key))["status"] == "submitted"


def test_malformed_requests_are_rejected_recorded_and_parked_with_the_reason(env: Env) -> None:
    outcome = published(env, "{not json", {"to": "+15551234567", "text": "x"}, {"text": "no recipient"})

    assert outcome["result"] == {"batchItemFailures": []}, "never retried"
    assert env.batch_requests() == []
    reasons = {}
    for body, attributes in env.dead_letters():
        reasons[attributes["messageId"]] = (body, attributes["reason"])
    for sqs_id, field in zip(outcome["ids"], ["not JSON", "to:", "to:"], strict=True):
        message_id = derived_id(sqs_id)
        stored = env.stored(message_id)
        assert stored["status"] == "rejected"
        assert stored["error"]["code"] == "invalid_request"
        assert field in stored["error"]["text"]
        assert field in reasons[message_id][1]


def test_a_published_text_over_max_parts_is_rejected_naming_its_segments_and_not_sent(env: Env) -> None:
    outcome = published(env, {**SMS, "text": "x" * 161, "maxParts": 1})

    assert outcome["result"] == {"batchItemFailures": []}, "never retried"
    assert env.batch_requests() == []
    stored = env.stored(derived_id(outcome["ids"][0]))
    assert stored["status"] == "rejected"
    assert "maxParts" in stored["error"]["text"] and "needs 2 segments" in stored["error"]["text"]
    ((_, attributes),) = env.dead_letters()
    assert "needs 2 segments" in attributes["reason"]


def test_after_the_last_attempt_the_queue_message_goes_to_the_dead_letter_queue_with_why(env: Env) -> None:
    env.faults({"match": "batches", "status": 503})
    _, body = env.send(SMS)
    retry = json.dumps({"kind": "retry", "messageId": body["id"]})
    env.consume(retry)
    env.consume(retry)  # MaxSendAttempts is 3 in these tests

    ((parked, attributes),) = env.dead_letters()
    assert attributes["messageId"] == body["id"]
    assert attributes["reason"].startswith("retries_exhausted")
    assert json.loads(parked)["lastError"] == "sinch_503"
    assert env.stored(body["id"])["status"] == "failed"


def test_sinchs_rate_limit_does_not_use_up_attempts(env: Env) -> None:
    env.faults({"match": "batches", "status": 429, "retry_after": 0, "times": 5})
    _, body = env.send(SMS)
    retry = json.dumps({"kind": "retry", "messageId": body["id"]})
    for _ in range(5):  # more 429s than MaxSendAttempts (3)
        env.consume(retry)

    stored = env.stored(body["id"])
    assert stored["status"] == "submitted"
    assert [r["response"]["status"] for r in env.batch_requests()] == [429] * 5 + [201]
    assert env.dead_letters() == []


def test_a_wait_longer_than_sqs_can_delay_goes_round_again(env: Env) -> None:
    env.faults({"match": "batches", "status": 503, "times": 1})
    _, body = env.send(SMS)
    later = json.dumps({"kind": "retry", "messageId": body["id"], "notBefore": time.time() + 3600})

    outcome = env.consume(later)

    assert outcome["result"] == {"batchItemFailures": []}
    assert len(env.batch_requests()) == 1, "not sent before its time"
    assert env.stored(body["id"])["status"] == "retrying"


def test_a_retry_of_an_unknown_message_is_parked_not_retried(env: Env) -> None:
    outcome = env.consume(json.dumps({"kind": "retry", "messageId": "no-such-message"}))

    assert outcome["result"] == {"batchItemFailures": []}
    ((_, attributes),) = env.dead_letters()
    assert attributes["reason"].startswith("unknown_message")


def test_the_sample_event_in_events_is_sent(env: Env) -> None:
    from tests.integration.conftest import ROOT

    event = json.loads((ROOT / "events" / "sqs-send-request.json").read_text())
    # Its publisher: a session of the role the event's SenderId names.
    env.register(TENANT, TenantPolicy(publishers=frozenset({"AROAEXAMPLEFULFILMENT"})))

    assert env.handler("QueueFunction")(event) == {"batchItemFailures": []}
    (sent,) = env.batch_requests()
    assert sent["body"]["to"] == ["+12025550143"]
    stored = env.stored(derived_id("ignored", "parcel-88-out-for-delivery"))
    assert stored["clientReference"] == "parcel-88"


def test_a_published_mms_whose_media_sinch_would_refuse_is_rejected_with_the_check(env: Env) -> None:
    outcome = published(env, {"to": "+12025550143", "mediaUrl": f"{env.sim.url}/_sim/media/wrong-type.jpg"})

    assert outcome["result"] == {"batchItemFailures": []}
    stored = env.stored(derived_id(outcome["ids"][0]))
    assert stored["status"] == "rejected"
    assert "mediaUrl" in stored["error"]["text"] and "Content-Type" in stored["error"]["text"]
    assert env.batch_requests() == []


def test_a_batch_that_fails_whole_is_reported_record_by_record_without_the_errors_text(
    env: Env, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    class Unavailable:
        def handle(
            self, body: str, sqs_message_id: str, tenant: str | None, *, sender_id: str | None
        ) -> None:
            raise ConnectionError(f"AWS is down while sending {body}")

    env.handler("QueueFunction")
    monkeypatch.setattr(env.modules["QueueFunction"].services, "queue_intake", Unavailable())

    outcome = published(env, SMS, SMS)

    # SQS makes both visible again; nothing raised, so Lambda logs no exception text of ours.
    assert outcome["result"] == {"batchItemFailures": [{"itemIdentifier": i} for i in outcome["ids"]]}
    assert SMS["text"] not in capfd.readouterr().out
