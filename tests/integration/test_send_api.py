"""The public API's rules at the handler: each mistake a clear problem, and nothing sent for it."""

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devstack import aws
from tests.integration.conftest import Env

SMS = {"to": "+12025550143", "text": "Hello from the tests"}


def header(answer: dict[str, Any], name: str) -> str | None:
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (answer.get("multiValueHeaders") or {}).items()}
    return headers.get(name) or (", ".join(multi[name]) if name in multi else None)


def post(env: Env, body: Any, **headers: str) -> dict[str, Any]:
    raw = body if isinstance(body, str) else json.dumps(body)
    return env.call("SendFunction", "POST", path="/v1/messages", body=raw, headers=headers)


def problem(answer: dict[str, Any]) -> dict[str, Any]:
    assert header(answer, "content-type") == "application/problem+json", answer
    body: dict[str, Any] = json.loads(answer["body"])
    return body


def fields(answer: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem(answer)["errors"]]


def in_hours(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


# --- request shape -----------------------------------------------------------------------------


def test_a_body_over_64_kib_is_a_413(env: Env) -> None:
    answer = post(env, {**SMS, "text": "x" * (64 * 1024)})

    assert answer["statusCode"] == 413
    assert problem(answer)["type"] == "/problems/body-too-large"
    assert env.batch_requests() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_json_by_its_content_type_is_a_415(env: Env, content_type: str) -> None:
    answer = post(env, SMS, **{"content-type": content_type})

    assert answer["statusCode"] == 415
    assert env.batch_requests() == []


def test_json_with_a_charset_is_fine(env: Env) -> None:
    assert post(env, SMS, **{"content-type": "application/json; charset=utf-8"})["statusCode"] == 202


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("PUT", "/v1/messages", "GET, POST"), ("PATCH", "/v1/messages/abc", "DELETE, GET")],
)
def test_a_wrong_method_is_a_405_saying_what_is_allowed(env: Env, method: str, path: str, allow: str) -> None:
    answer = env.call("SendFunction", method, path=path, body="{}")

    assert answer["statusCode"] == 405
    assert problem(answer)["type"] == "/problems/method-not-allowed"
    allowed = header(answer, "allow") or ""
    assert set(allowed.split(", ")) >= set(allow.split(", ")) | (
        {"POST"} if path == "/v1/messages" else set()
    )


def test_an_unknown_route_is_a_404_problem(env: Env) -> None:
    answer = env.call("SendFunction", "GET", path="/v2/messages")

    assert answer["statusCode"] == 404
    assert problem(answer)["type"] == "/problems/no-such-route"


def test_mms_to_a_country_sinch_does_not_serve_names_the_country(env: Env) -> None:
    answer = post(env, {"to": "+442079460123", "mediaUrl": f"{env.sim.url}/_sim/media/sample.jpg"})

    assert answer["statusCode"] == 422
    (error,) = problem(answer)["errors"]
    assert error["field"] == "to"
    assert "United Kingdom" in error["message"] and "(GB)" in error["message"]
    assert env.batch_requests() == []


def test_an_sms_to_that_country_is_fine(env: Env) -> None:
    assert post(env, {"to": "+442079460123", "text": "hi"})["statusCode"] == 202


@pytest.mark.parametrize(
    ("hours", "message"),
    [(-1.0, "future"), (73.0, "3 days"), (None, "time zone")],
    ids=["past", "too-far", "naive"],
)
def test_send_at_must_be_a_future_instant_within_three_days(
    env: Env, hours: float | None, message: str
) -> None:
    send_at = in_hours(hours) if hours is not None else "2026-12-01T10:00:00"
    answer = post(env, {**SMS, "sendAt": send_at})

    assert answer["statusCode"] == 422
    (error,) = problem(answer)["errors"]
    assert error["field"] == "sendAt" and message in error["message"]
    assert env.batch_requests() == []


def test_a_text_over_max_parts_is_a_422_naming_its_segments_and_nothing_is_stored_or_sent(env: Env) -> None:
    answer = post(env, {**SMS, "text": "x" * 161, "maxParts": 1, "clientReference": "too-long"})

    assert answer["statusCode"] == 422
    (error,) = problem(answer)["errors"]
    assert error["field"] == "maxParts" and "needs 2 segments" in error["message"]
    assert env.batch_requests() == []
    status, page = env.api("SendFunction", "GET", path="/v1/messages", query={"clientReference": "too-long"})
    assert (status, page["items"]) == (200, [])


def test_a_text_within_max_parts_is_sent(env: Env) -> None:
    answer = post(env, {**SMS, "text": "x" * 161, "maxParts": 2})

    assert answer["statusCode"] == 202
    (sent,) = env.batch_requests()
    assert sent["body"]["body"] == "x" * 161


# --- scheduling and cancelling -----------------------------------------------------------------


def test_a_scheduled_message_goes_to_sinch_with_send_at_and_can_be_cancelled(env: Env) -> None:
    answer = post(env, {**SMS, "sendAt": in_hours(2)})
    assert answer["statusCode"] == 202
    message = json.loads(answer["body"])
    (sent,) = env.batch_requests()
    assert sent["body"]["send_at"].endswith("Z")

    status, cancelled = env.api(
        "SendFunction", "DELETE", path=f"/v1/messages/{message['id']}", resource="/v1/messages/{id}"
    )

    assert status == 200
    assert cancelled["status"] == "cancelled"
    deletes = [r for r in env.sim_call("GET", "/_sim/requests") if r["method"] == "DELETE"]
    assert [d["path"].rsplit("/", 1)[1] for d in deletes] == [sent["response"]["body"]["id"]]
    again, body = env.api(
        "SendFunction", "DELETE", path=f"/v1/messages/{message['id']}", resource="/v1/messages/{id}"
    )
    assert again == 409 and body["type"] == "/problems/conflict"


def test_a_message_already_sent_cannot_be_cancelled(env: Env) -> None:
    message = json.loads(post(env, SMS)["body"])

    status, body = env.api(
        "SendFunction", "DELETE", path=f"/v1/messages/{message['id']}", resource="/v1/messages/{id}"
    )

    assert status == 409
    assert "submitted" in body["detail"]
    assert env.stored(message["id"])["status"] == "submitted"


def test_cancelling_an_unknown_message_is_a_404(env: Env) -> None:
    status, _ = env.api("SendFunction", "DELETE", path="/v1/messages/nope", resource="/v1/messages/{id}")
    assert status == 404


def test_a_message_waiting_for_a_retry_is_cancelled_without_sinch(env: Env) -> None:
    env.faults({"match": "batches", "status": 503, "times": 1})
    message = json.loads(post(env, SMS)["body"])

    status, body = env.api(
        "SendFunction", "DELETE", path=f"/v1/messages/{message['id']}", resource="/v1/messages/{id}"
    )

    assert (status, body["status"]) == (200, "cancelled")
    env.consume(json.dumps({"kind": "retry", "messageId": message["id"]}))
    assert len(env.batch_requests()) == 1  # only the 503: the retry found it cancelled


# --- dry run -----------------------------------------------------------------------------------


def test_a_dry_run_shows_what_would_be_sent_and_sends_and_records_nothing(env: Env) -> None:
    before = len(env.scan())

    answer = post(env, {**SMS, "text": "ç" * 71}, **{"X-Dry-Run": "true"})

    assert answer["statusCode"] == 200, answer["body"]
    result = json.loads(answer["body"])
    assert result["dryRun"] is True
    assert result["numberOfMessages"] == 2
    assert [(r["segments"], r["encoding"]) for r in result["recipients"]] == [(2, "UNICODE")]
    assert env.batch_requests() == []
    assert [r["path"].rsplit("/", 1)[1] for r in env.sim_call("GET", "/_sim/requests")] == ["dry_run"]
    assert len(env.scan()) == before


def kept_media(env: Env) -> list[str]:
    s3 = aws.client("s3", env.endpoint, env.template.region)
    listed = s3.list_objects_v2(Bucket=env.template.bucket_name("MediaBucket"))
    return [o["Key"] for o in listed.get("Contents", [])]


def test_a_dry_run_of_an_mms_checks_its_media_and_keeps_none_of_it(env: Env) -> None:
    kept, items = kept_media(env), len(env.scan())
    slides = [{"mediaUrl": [f"{env.sim.url}/_sim/media/sample.jpg", f"{env.sim.url}/_sim/media/sample.mp3"]}]
    for body in (
        {**SMS, "subject": "Sale", "mediaUrl": f"{env.sim.url}/_sim/media/sample.png"},
        {"to": SMS["to"], "subject": "Sale", "slides": slides, "fallbackText": "Sale"},
    ):
        answer = post(env, body, **{"X-Dry-Run": "true"})
        assert answer["statusCode"] == 200, answer["body"]
    refused = post(
        env, {**SMS, "mediaUrl": f"{env.sim.url}/_sim/media/wrong-type.jpg"}, **{"X-Dry-Run": "true"}
    )
    assert (refused["statusCode"], fields(refused)) == (422, ["mediaUrl"])  # checked all the same

    assert kept_media(env) == kept  # was one object per file
    assert len(env.scan()) == items
    assert env.batch_requests() == []


# --- idempotency -------------------------------------------------------------------------------


def test_the_same_key_and_body_gets_the_first_answer_byte_for_byte_and_sends_once(env: Env) -> None:
    first = post(env, SMS, **{"Idempotency-Key": "order-1234-attempt"})
    second = post(env, SMS, **{"idempotency-key": "order-1234-attempt"})

    assert first["statusCode"] == second["statusCode"] == 202
    assert second["body"] == first["body"]
    assert header(second, "location") == header(first, "location")
    assert len(env.batch_requests()) == 1


def test_the_same_key_with_another_body_is_a_409(env: Env) -> None:
    post(env, SMS, **{"Idempotency-Key": "reused-key"})

    answer = post(env, {**SMS, "text": "something else"}, **{"Idempotency-Key": "reused-key"})

    assert answer["statusCode"] == 409
    assert fields(answer) == ["Idempotency-Key"]
    assert len(env.batch_requests()) == 1


def test_a_refusal_is_replayed_too_and_not_sent_again(env: Env) -> None:
    env.faults({"match": "batches", "status": 400, "times": 1})
    first = post(env, SMS, **{"Idempotency-Key": "refused-once"})
    second = post(env, SMS, **{"Idempotency-Key": "refused-once"})

    assert first["statusCode"] == second["statusCode"] == 422
    assert second["body"] == first["body"]
    assert len(env.batch_requests()) == 1


@pytest.mark.parametrize("status", [503, 502, 429])
def test_media_that_failed_for_now_is_not_replayed_the_same_key_sends_once_the_host_is_back(
    env: Env, status: int
) -> None:
    # The host fails the first GET of this URL, then serves the file.
    media = f"{env.sim.url}/_sim/media/sample.png?fail_first=1&status={status}&n={uuid.uuid4().hex}"
    body = {**SMS, "subject": "Sale", "mediaUrl": media}
    first = post(env, body, **{"Idempotency-Key": f"flaky-host-{status}"})
    assert first["statusCode"] == 422
    assert problem(first)["type"] == "/problems/media-unavailable"
    assert problem(first)["errors"] == [{"field": "mediaUrl", "message": f"answered HTTP {status}"}]

    second = post(env, body, **{"Idempotency-Key": f"flaky-host-{status}"})

    assert second["statusCode"] == 202, second["body"]
    assert len(env.batch_requests()) == 1
    third = post(env, body, **{"Idempotency-Key": f"flaky-host-{status}"})
    assert third["body"] == second["body"]  # and that answer is kept
    assert len(env.batch_requests()) == 1


def test_media_refused_for_good_is_replayed_under_the_same_key(env: Env) -> None:
    body = {**SMS, "subject": "Sale", "mediaUrl": f"{env.sim.url}/_sim/media/wrong-type.jpg"}
    first = post(env, body, **{"Idempotency-Key": "wrong-type"})
    second = post(env, body, **{"Idempotency-Key": "wrong-type"})
    assert first["statusCode"] == second["statusCode"] == 422
    assert problem(first)["type"] == "/problems/validation-error"
    assert second["body"] == first["body"]


def test_the_same_key_while_the_first_request_is_in_flight_is_a_409_with_retry_after(env: Env) -> None:
    env.faults({"match": "batches", "delay_ms": 450, "times": 1})  # under the 0.5 s read timeout
    answers: list[dict[str, Any]] = []
    first = threading.Thread(
        target=lambda: answers.append(post(env, SMS, **{"Idempotency-Key": "in-flight"}))
    )
    first.start()
    deadline = time.monotonic() + 5
    while not env.batch_requests() and time.monotonic() < deadline:  # the first is at Sinch...
        time.sleep(0.01)
    answers.append(post(env, SMS, **{"Idempotency-Key": "in-flight"}))  # ...for 450 ms more
    first.join()

    # The first sent it; the second was told to come back.
    assert sorted(a["statusCode"] for a in answers) == [202, 409]
    (conflict,) = [a for a in answers if a["statusCode"] == 409]
    assert header(conflict, "retry-after") == "1"
    assert len(env.batch_requests()) == 1


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\tinside"])
def test_a_malformed_idempotency_key_is_a_422(env: Env, key: str) -> None:
    answer = post(env, SMS, **{"Idempotency-Key": key})

    assert answer["statusCode"] == 422
    assert fields(answer) == ["Idempotency-Key"]
    assert env.batch_requests() == []


# --- listing -----------------------------------------------------------------------------------


def test_messages_are_listed_by_client_reference_newest_first_in_pages(env: Env) -> None:
    ref = f"campaign-{datetime.now(UTC).timestamp()}"
    ids = [json.loads(post(env, {**SMS, "clientReference": ref})["body"])["id"] for _ in range(3)]
    post(env, {**SMS, "clientReference": "another"})

    status, page = env.api(
        "SendFunction", "GET", path="/v1/messages", query={"clientReference": ref, "limit": "2"}
    )
    assert status == 200
    status, rest = env.api(
        "SendFunction",
        "GET",
        path="/v1/messages",
        query={"clientReference": ref, "limit": "2", "nextToken": page["nextToken"]},
    )

    assert [m["id"] for m in page["items"] + rest["items"]] == ids[::-1]
    assert rest["nextToken"] is None or rest["items"] == []


def test_a_forged_next_token_is_a_400(env: Env) -> None:
    status, body = env.api(
        "SendFunction",
        "GET",
        path="/v1/messages",
        query={"clientReference": "x", "nextToken": "bm90LWEtdG9rZW4="},
    )
    assert status == 400
    assert body["type"] == "/problems/invalid-token"
    assert [e["field"] for e in body["errors"]] == ["nextToken"]


# --- Sinch refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sinch_status", "ours", "problem_type", "final"),
    [
        (400, 422, "/problems/sinch-rejected", "rejected"),
        (403, 422, "/problems/sinch-forbidden", "rejected"),
        (404, 502, "/problems/sinch-misconfigured", "rejected"),
    ],
)
def test_sinch_refusals_map_to_documented_problems(
    env: Env, sinch_status: int, ours: int, problem_type: str, final: str
) -> None:
    env.faults({"match": "batches", "status": sinch_status, "times": 1})

    answer = post(env, SMS)

    assert answer["statusCode"] == ours
    body = problem(answer)
    assert (body["type"], body["sinchStatus"]) == (problem_type, sinch_status)
    assert env.stored(body["messageId"])["status"] == final
