"""Each function's roles against the AWS calls it really makes, through the whole local stack.

The workers record every AWS call (devstack.aws_calls). After a workload that takes every path
the roles are written for, each recorded call must be allowed by its function's grants in
tests/least_privilege.py (which tests/unit/test_template_expanded.py holds the template to), and
every grant must have been used, unless it serves Lambda itself or a path listed in RARELY_USED.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack import aws
from devstack.aws_calls import read
from devstack.callback_receiver import CallbackReceiver
from devstack.stack import FROM_NUMBER
from tests.e2e.conftest import LocalStack
from tests.least_privilege import EXPECTED, KEPT_MEDIA, XRAY_ACTIONS, Grant, arn, canonical, permits, ref

SMS = {"to": "+12025550143", "text": "least privilege"}
OPTED_OUT_AND_IN = "+12025550183"  # texts STOP then START: no other test sends to it
MMS = {"to": "+12025550144", "subject": "least privilege"}
# Used by Lambda for the function, not by its code: never among its recorded calls.
FOR_LAMBDA = {"logs:CreateLogStream", "logs:PutLogEvents", *XRAY_ACTIONS}
POLLING = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
POLLERS = ("QueueFunction", "CallbackFunction")  # their queues are polled for them
STREAM_READING = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)

# Granted for paths this workload cannot take (or cannot take reliably): why each is needed.
RARELY_USED = {
    ("SendFunction", "sqs:SendMessage", canonical(arn("DeadLetterQueue"))): (
        "retries exhausted at the first attempt (MaxSendAttempts=1)"
    ),
    ("SendFunction", "dynamodb:GetItem", canonical(arn("IdempotencyTable"))): (
        "Powertools reads the record itself when a failed conditional put did not return it"
    ),
    ("SendFunction", "dynamodb:DeleteItem", canonical(arn("IdempotencyTable"))): (
        "Powertools deletes the record of a request whose handler raised"
    ),
    ("SendFunction", "dynamodb:GetItem", canonical(arn("TenantsTable"))): "the per-tenant policy",
    ("QueueFunction", "dynamodb:GetItem", canonical(arn("TenantsTable"))): "the per-tenant policy",
    ("QueueFunction", "dynamodb:PutItem", canonical(arn("BatchesTable"))): (
        "a batch published on SendQueue (`to` a list): tests/integration/test_batches.py takes one"
    ),
    ("CallbackFunction", "sqs:SendMessage", canonical(arn("CallbackDeadLetterQueue"))): (
        "a status callback not taken for CallbackMaxAgeSeconds (24 h), or with no secret to sign it"
    ),
    ("CallbackFunction", "sqs:SendMessage", canonical(arn("MessageChangesDeadLetterQueue"))): (
        "Lambda's, with the function's role: the stream mapping's record of a batch it gave up "
        "(the local stream poller sends it itself)"
    ),
    # Presigning is done locally, no call: S3 checks the signer's GetObject when Sinch fetches.
    ("SendFunction", "s3:GetObject", canonical(KEPT_MEDIA)): "presigned links to kept media",
    ("QueueFunction", "s3:GetObject", canonical(KEPT_MEDIA)): "presigned links to kept media",
}


def resource_of(call: dict[str, Any], state: dict[str, Any]) -> str:
    """The resource of a recorded call, written as the template writes it."""
    if "TableName" in call:
        (table,) = [lid for lid, name in state["tables"].items() if name == call["TableName"]]
        if "IndexName" in call:
            return canonical({"Fn::Sub": f"${{{table}.Arn}}/index/{call['IndexName']}"})
        return canonical(arn(table))
    if "QueueUrl" in call:
        (queue,) = [lid for lid, url in state["queues"].items() if url == call["QueueUrl"]]
        return canonical(arn(queue))
    if "SecretId" in call:
        secrets = {state["secret_id"]: "SinchSecret", state["webhook_secret_id"]: "WebhookSecret"}
        return canonical(ref(secrets[call["SecretId"]]))
    if call.get("Bucket") == state["media_bucket"]:
        return canonical(KEPT_MEDIA)  # the only bucket, and its only prefix
    raise AssertionError(f"a call on no resource the roles name: {call}")


def grant_allowing(function: str, call: dict[str, Any], state: dict[str, Any]) -> Grant | None:
    """The grant IAM would allow the call by (its conditions and the role's denials weighed)."""
    return permits(function, call, resource_of(call, state))


def recorded_calls(local: LocalStack) -> dict[str, list[dict[str, Any]]]:
    functions = local.config["functions"]
    directory = local.state_dir / "aws-calls"
    return {f: read(directory / f"{spec['name']}.jsonl") for f, spec in functions.items()}


def must_be_used(function: str) -> set[tuple[str, Grant]]:
    return {
        (function, grant)
        for grant in EXPECTED[function]
        if grant[0] not in FOR_LAMBDA
        and not (function in POLLERS and grant[0] in POLLING)
        and grant[0] not in STREAM_READING  # Lambda reads the stream for the function
        and (function, grant[0], grant[1]) not in RARELY_USED
    }


def drive_every_path(local: LocalStack, receiver: CallbackReceiver) -> list[str]:
    """Requests that take each path the roles are written for; the ids of the API's messages."""
    ids = []
    receiver.status = 500  # a callback fails once (its backoff is set), then is taken
    with_callbacks = local.api("POST", "/v1/messages", {**SMS, "statusCallbackUrl": receiver.url})
    assert with_callbacks.status == 202, with_callbacks.body
    ids.append(with_callbacks.body["id"])
    deadline = time.monotonic() + 30
    while not receiver.refused and time.monotonic() < deadline:
        time.sleep(0.1)
    receiver.status = 200

    reference = f"least-privilege-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = local.api("POST", "/v1/messages", {**SMS, "clientReference": reference}, headers=key)
    assert first.status == 202, first.body
    replay = local.api("POST", "/v1/messages", {**SMS, "clientReference": reference}, headers=key)
    assert replay.body == first.body
    ids.append(first.body["id"])
    assert local.api("GET", f"/v1/messages/{first.body['id']}").status == 200
    assert local.api("GET", f"/v1/messages?clientReference={reference}").status == 200
    assert local.api("GET", "/v1/messages?limit=1").status == 200  # byTenant
    # A reply to it: the webhook finds the message it answers, and keeps it for its tenant.
    reply = {"from": SMS["to"], "to": FROM_NUMBER, "body": "Thanks"}
    assert local.sim("POST", "/_sim/inbound", reply)["type"] == "mo_text"
    assert local.api("GET", "/v1/inbound").status == 200
    # An opt-out and the opt-in after it (a number of this test's own): the webhook's opt-out update.
    for keyword in ("STOP", "START"):
        texted = {"from": OPTED_OUT_AND_IN, "to": FROM_NUMBER, "body": keyword}
        assert local.sim("POST", "/_sim/inbound", texted)["type"] == "mo_text"
    # A template: saved (SendFunction), made ready by Sinch's postback (the webhook settles it).
    template = local.api(
        "POST",
        "/v1/mms-templates",
        {"name": "least privilege", "subject": "s", "fallbackText": "f", "slides": [{"text": "t"}]},
    )
    assert template.status == 202, template.body
    deadline = time.monotonic() + 30
    while local.api("GET", f"/v1/mms-templates/{template.body['id']}").body["status"] == "pending":
        assert time.monotonic() < deadline, "the template's postback never settled it"
        time.sleep(0.2)

    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = local.api("POST", "/v1/messages", {**SMS, "sendAt": send_at})
    assert scheduled.status == 202, scheduled.body
    assert local.api("DELETE", f"/v1/messages/{scheduled.body['id']}").status == 200

    # An MMS, through the API and through the queue: each function keeps its checked media.
    media = f"{local.config['sinch_url']}/_sim/media/sample.jpg"
    mms = local.api("POST", "/v1/messages", {**MMS, "mediaUrl": media})
    assert mms.status == 202, mms.body
    ids.append(mms.body["id"])

    # Sinch unavailable twice: SendFunction queues a retry, QueueFunction fails and queues another.
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "batches", "status": 503, "times": 2}]})
    retried = local.api("POST", "/v1/messages", SMS)
    assert retried.status == 202 and retried.body["status"] == "retrying", retried.body
    ids.append(retried.body["id"])

    sqs = aws.publisher(local.config)  # the first tenant's publisher
    queue = local.config["send_queue_url"]
    tenant: Any = {"tenant": {"DataType": "String", "StringValue": local.config["tenants"][0]["api_key_id"]}}
    for request in ({**SMS, "idempotencyKey": uuid.uuid4().hex}, {**MMS, "mediaUrl": media}):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(request), MessageAttributes=tenant)
    sqs.send_message(QueueUrl=queue, MessageBody="not a request")  # rejected, dead-lettered
    forged = {"kind": "retry", "messageId": str(uuid.uuid4())}  # not from the gateway: dead-lettered
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(forged))
    return ids


def test_every_aws_call_is_allowed_by_the_functions_role_and_every_grant_is_used(local: LocalStack) -> None:
    state = local.config
    with CallbackReceiver() as receiver:
        for message_id in drive_every_path(local, receiver):
            assert local.wait_final(message_id)["status"] == "delivered"
        receiver.wait_for(lambda got: any(c["status"] == "delivered" for c in got), timeout=30)

    required = set().union(*(must_be_used(f) for f in EXPECTED))
    deadline = time.monotonic() + 60
    while True:
        calls = recorded_calls(local)
        used = {
            (function, grant)
            for function, made in calls.items()
            for call in made
            if (grant := grant_allowing(function, call, state)) is not None
        }
        if required <= used or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # Only the fault suite looks at the dead-letter queue, and it expects its own there alone.
    sqs, dlq = aws.client("sqs", state["aws_endpoint_url"], state["region"]), state["dead_letter_queue_url"]
    while batch := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])

    refused = [
        (function, call)
        for function, made in calls.items()
        for call in made
        if grant_allowing(function, call, state) is None
    ]
    assert refused == [], "calls the roles would refuse in AWS"
    assert sorted(required - used) == [], "grants no path used (or list the path in RARELY_USED)"
    assert all(calls.values()), "every function made AWS calls"
