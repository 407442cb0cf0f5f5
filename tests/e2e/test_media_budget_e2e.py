"""Media through the local stack: one time budget for all media of a request (slides, template
files, a mediaUrl, a SendQueue request), slow but valid media never a timeout or a 5xx; a dry run
that writes nothing; and a media failure that may pass later never replayed under an Idempotency-Key.

The simulator's media host is slow or failing by the URL's query (devstack/sinch_simulator/README.md):
`delay_ms` starts its answer late, `fail_first` fails the first GETs of that URL.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from devstack import aws
from tests.e2e.conftest import LocalStack

TO = "+12025550148"
BUDGET_S = 5.0  # MEDIA_BUDGET_S: every file of one request, fetched within it
SLOW_MS = 2000  # each file: within a request's own 3 s, but 8 of them one by one take 16 s
MARGIN_S = 3.0  # what the local stack adds on a loaded machine: still short of the 15 s timeout


def slow(local: LocalStack, name: str, delay_ms: int = SLOW_MS) -> str:
    """A URL of its own (the check fetches it) answered delay_ms late with a valid file."""
    return f"{local.sinch_url}/_sim/media/{name}?delay_ms={delay_ms}&n={uuid.uuid4().hex}"


def kept_objects(local: LocalStack) -> set[str]:
    s3 = aws.client("s3", local.config["aws_endpoint_url"], local.config["region"])
    listed = s3.list_objects_v2(Bucket=local.config["media_bucket"])
    return {o["Key"] for o in listed.get("Contents", [])}


# What Sinch's webhooks keep: a request that reaches no Sinch API (asserted beside) cannot cause
# them, while an earlier test's MMS postback may land at any moment.
WEBHOOK_ITEMS = ("postback#", "unmatched#", "inbound#")


def item_ids(local: LocalStack) -> set[str]:
    """The messages table's items, but for what Sinch's webhooks keep."""
    db = aws.client("dynamodb", local.config["aws_endpoint_url"], local.config["region"])
    items = db.scan(TableName=local.config["messages_table"], ConsistentRead=True)["Items"]
    return {i["id"]["S"] for i in items if not i["id"]["S"].startswith(WEBHOOK_ITEMS)}


def mms_api_calls(local: LocalStack) -> list[dict[str, Any]]:
    return [r for r in local.sim("GET", "/_sim/requests") if r["path"].startswith("/ep/")]


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_eight_slow_slides_are_fetched_together_and_sent(local: LocalStack) -> None:
    # One by one (each with its own deadline) they took 12 s: past the 5 s budget, a 422 (at 2 s
    # each, 16 s: past SendFunction's 15 s, a 5xx). 1.5 s each leaves each file 1.5 s of its own
    # 3 s for what a loaded machine adds.
    slides = [{"text": f"page {n}", "mediaUrl": slow(local, "sample.jpg", delay_ms=1500)} for n in range(8)]
    body = {"to": TO, "subject": "Catalogue", "slides": slides, "fallbackText": "See the catalogue"}

    answer, elapsed = timed(lambda: local.api("POST", "/v1/messages", body))

    assert answer.status == 202, answer.body
    assert elapsed < BUDGET_S + MARGIN_S
    [call] = mms_api_calls(local)
    assert len(call["body"]["slide"]) == 8


def test_more_slow_files_than_the_budget_holds_are_a_422_naming_each_within_the_budget(
    local: LocalStack,
) -> None:
    # 8 slides of 3 files: 24 slow files, fetched 8 at a time, need three rounds of 2 s.
    kept = kept_objects(local)
    slides = [
        {"mediaUrl": [slow(local, f"sample.{kind}") for kind in ("vcf", "ics", "pdf")]} for _ in range(8)
    ]
    body = {"to": TO, "subject": "Catalogue", "slides": slides, "fallbackText": "See the catalogue"}

    answer, elapsed = timed(lambda: local.api("POST", "/v1/messages", body))

    assert answer.status == 422, answer.body
    assert answer.body["type"] == "/problems/media-unavailable"
    assert elapsed < BUDGET_S + MARGIN_S
    errors = answer.body["errors"]
    assert errors and {e["field"] for e in errors} <= {f"slides[{n}].mediaUrl" for n in range(8)}
    for error in errors:
        assert error["message"] == (
            "could not be fetched in time: all media of a request must be fetched within 5 seconds"
        )
    assert mms_api_calls(local) == []
    assert kept_objects(local) == kept  # nothing kept of a refused request


def test_a_template_of_slow_slides_is_saved(local: LocalStack) -> None:
    slides = [{"text": f"page {n}", "mediaUrl": slow(local, "sample.png")} for n in range(8)]
    body = {"name": "catalogue", "subject": "Catalogue", "slides": slides, "fallbackText": "See it"}

    answer, elapsed = timed(lambda: local.api("POST", "/v1/mms-templates", body))

    assert answer.status == 202, answer.body
    assert elapsed < BUDGET_S + MARGIN_S
    [call] = mms_api_calls(local)
    assert call["body"]["action"] == "savemms"


def test_a_queued_request_of_slow_slides_is_sent(local: LocalStack) -> None:
    # 8 files one by one take 12 s, past the budget; together 1.5 s, leaving each file 1.5 s of
    # its own 3 s for what a loaded machine adds (the queue function has no caller waiting).
    slides = [{"mediaUrl": slow(local, "sample.gif", delay_ms=1500)} for _ in range(8)]
    reference = f"queued-slow-{uuid.uuid4().hex[:8]}"
    body = {
        "to": TO,
        "subject": "Catalogue",
        "slides": slides,
        "fallbackText": "x",
        "clientReference": reference,
    }
    sqs = aws.publisher(local.config)  # the first tenant's registered publisher
    sqs.send_message(
        QueueUrl=local.config["send_queue_url"],
        MessageBody=json.dumps(body),
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": local.config["api_key_id"]}},
    )

    deadline = time.monotonic() + 60
    while not (listed := local.api("GET", f"/v1/messages?clientReference={reference}").body["items"]):
        assert time.monotonic() < deadline, "the queued request was never recorded"
        time.sleep(0.5)
    [message] = listed
    assert message["status"] != "rejected", message.get("error")
    # Recorded first, then sent: the call to Sinch follows (and must land before the next test).
    while not mms_api_calls(local):
        assert time.monotonic() < deadline, "the queued request never reached Sinch"
        time.sleep(0.2)
    assert len(mms_api_calls(local)) == 1


def test_a_dry_run_writes_nothing_anywhere(local: LocalStack) -> None:
    kept, items = kept_objects(local), item_ids(local)
    media = f"{local.sinch_url}/_sim/media"
    slides = [{"mediaUrl": [f"{media}/sample.jpg", f"{media}/sample.mp3"]}]
    for body in (
        {"to": TO, "subject": "Sale", "mediaUrl": f"{media}/sample.jpg"},
        {"to": TO, "subject": "Sale", "slides": slides, "fallbackText": "x"},
    ):
        answer = local.api("POST", "/v1/messages", body, headers={"X-Dry-Run": "true"})
        assert answer.status == 200, answer.body
        assert answer.body["dryRun"] is True

    assert kept_objects(local) == kept  # each file was an object in the media bucket
    assert item_ids(local) == items
    assert [r for r in local.sim("GET", "/_sim/requests") if not r["path"].endswith("/dry_run")] == []


def test_a_media_host_that_failed_then_recovered_is_tried_again_under_the_same_key(local: LocalStack) -> None:
    media = f"{local.sinch_url}/_sim/media/sample.jpg?fail_first=1&status=503&n={uuid.uuid4().hex}"
    body = {"to": TO, "subject": "Sale", "mediaUrl": media}
    key = {"Idempotency-Key": f"flaky-{uuid.uuid4().hex}"}

    first = local.api("POST", "/v1/messages", body, headers=key)
    assert first.status == 422, first.body
    assert first.body["errors"] == [{"field": "mediaUrl", "message": "answered HTTP 503"}]

    second = local.api("POST", "/v1/messages", body, headers=key)  # the host is back

    assert second.status == 202, second.body  # was the first answer again, for 24 hours
    assert first.body["type"] == "/problems/media-unavailable"  # "try again later", not "fix it"
    assert local.wait_final(second.body["id"])["status"] == "delivered"
    third = local.api("POST", "/v1/messages", body, headers=key)
    assert (third.status, third.body) == (202, second.body)  # that answer is the one kept
