"""No phone number, message text or secret in any function's log output or in any trace.

Real traffic of every kind goes through the session's local stack (its own, then whatever other
tests sent before it), and then every log line of every function and every trace document the
local X-Ray daemon received is scanned.
"""

import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devstack import aws
from tests.e2e.conftest import FINAL, LocalStack
from tests.leak_scan import scan

# Numbers of this test only (others use +1 202 555 0143/44): found in a log, they are its leaks.
SMS_TO = "+12025550171"
MMS_TO = "+12025550172"
QUEUED_TO = "+61491570173"
OTHER_TO = ["+12025550174", "+12025550175", "+12025550176", "+12025550177", "+12025550178"]
SECRET_KEYS = ("api_key", "secret", "token", "password", "credentials")


def _secret_values(value: Any, key: str = "") -> list[str]:
    """The values of every field named like a secret (API keys, tokens, webhook secrets), not ids."""
    if isinstance(value, dict):
        return [v for k, item in value.items() for v in _secret_values(item, str(k))]
    if isinstance(value, list):
        return [v for item in value for v in _secret_values(item, key)]
    named_secret = key.lower().endswith(SECRET_KEYS) and not key.lower().endswith("_id")
    return [value] if named_secret and isinstance(value, str) and len(value) >= 8 else []


def _stack_secrets(local: LocalStack) -> list[str]:
    config = local.config
    found = _secret_values(config)
    client = aws.client("secretsmanager", config["aws_endpoint_url"], config["region"])
    for listed in client.list_secrets()["SecretList"]:
        raw = client.get_secret_value(SecretId=listed["ARN"])["SecretString"]
        try:
            found += _secret_values(json.loads(raw))
        except ValueError:
            found.append(raw)
    return sorted(set(found))


def _messages_with(local: LocalStack, reference: str) -> list[dict[str, Any]]:
    answer = local.api("GET", f"/v1/messages?clientReference={reference}&limit=100")
    assert answer.status == 200, answer.body
    return list(answer.body["items"])


def _wait(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _traffic(local: LocalStack) -> list[str]:
    """Every kind of request the gateway takes; returns the texts and subjects it sent, and the
    marker in each (found even where only part of a text would leak)."""
    sent: list[str] = []
    reference = f"pii-{uuid.uuid4().hex[:8]}"

    def text(what: str) -> str:
        marker = f"pii-{secrets.token_hex(6)}"  # no log line holds it by chance
        sent.extend([f"{what} {marker} meet me at the usual place", marker])
        return sent[-2]

    def post(body: dict[str, Any], headers: dict[str, str] | None = None, status: int = 202) -> Any:
        answer = local.api("POST", "/v1/messages", {**body, "clientReference": reference}, headers=headers)
        assert answer.status == status, answer.body
        return answer.body

    media = f"{local.sinch_url}/_sim/media/sample.jpg"
    finals = [
        post({"to": SMS_TO, "text": text("sms")})["id"],
        post({"to": MMS_TO, "text": text("mms"), "subject": text("subj"), "mediaUrl": media})["id"],
        post({"to": OTHER_TO[0], "text": text("ünïcödé sms")})["id"],
    ]
    # Not valid: 422s (a text too long, a subject on an SMS, a number that is no number).
    post({"to": OTHER_TO[1], "text": text("long") * 60}, status=422)
    post({"to": OTHER_TO[1], "text": text("sms"), "subject": text("subj")}, status=422)
    post({"to": "+1202555017", "text": text("short number")}, status=422)
    # Answered twice from one Idempotency-Key, sent once.
    once = {"to": OTHER_TO[2], "text": text("idempotent")}
    key = {"Idempotency-Key": f"pii-{uuid.uuid4()}"}
    finals.append(post(once, key)["id"])
    assert post(once, key)["id"] == finals[-1]
    # A dry run: nothing sent.
    post({"to": OTHER_TO[3], "text": text("dry run")}, {"X-Dry-Run": "true"}, status=200)
    # Scheduled, then cancelled at Sinch.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = post({"to": OTHER_TO[3], "text": text("scheduled"), "sendAt": later})["id"]
    assert local.api("DELETE", f"/v1/messages/{scheduled}").status == 200
    # Sinch fails once (retried through the queue), then reports a delivery failure.
    local.sim(
        "POST",
        "/_sim/faults",
        {
            "rules": [
                {"match": "batches", "status": 503, "times": 1},
                {"match": "callbacks", "final": "Failed"},
            ]
        },
    )
    finals.append(post({"to": OTHER_TO[4], "text": text("retried")})["id"])
    # From another service through SendQueue: a valid request and a malformed one.
    sqs = aws.publisher(local.config)  # the first tenant's publisher
    queue = local.config["send_queue_url"]
    queued = {"to": QUEUED_TO, "text": text("queued"), "clientReference": reference}
    malformed = {"to": QUEUED_TO, "text": text("malformed"), "clientReference": reference, "colour": "red"}
    for body in (queued, malformed):
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=json.dumps(body),
            MessageAttributes={"tenant": {"DataType": "String", "StringValue": local.config["api_key_id"]}},
        )
    for message_id in finals:
        assert local.wait_final(message_id)["status"] in ("delivered", "failed"), message_id

    def settled() -> bool:  # the finals, the cancelled one and both queued requests
        messages = _messages_with(local, reference)
        return len(messages) == len(finals) + 3 and all(m["status"] in FINAL for m in messages)

    _wait(settled, "the queued requests to end")
    # A delivery report nobody signed.
    forged = {
        "type": "recipient_delivery_report_sms",
        "batch_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "recipient": SMS_TO,
        "code": 0,
        "status": "Delivered",
        "at": "2026-11-23T19:00:00Z",
        "client_reference": finals[0],
    }
    assert local.api("POST", "/v1/webhooks/sinch/delivery-reports", forged, key=None).status == 401

    statuses = {m["status"] for m in _messages_with(local, reference)}
    assert {"failed", "rejected", "cancelled"} <= statuses, statuses
    return sent


def _traces_complete(traces: Path, since: float) -> bool:
    """Every invocation since then that ended well has its handler's subsegment on file (the SDK
    sends it last, over UDP, just before the invocation returns)."""
    documents = [json.loads(line) for line in traces.read_text().splitlines() if line.strip()]
    handled = {d.get("parent_id") for d in documents if d.get("name") == "## lambda_handler"}
    ended = [
        d
        for d in documents
        if d.get("origin") == "AWS::Lambda::Function" and not d.get("fault") and d["start_time"] >= since
    ]
    return bool(ended) and all(d["id"] in handled for d in ended)


def test_no_phone_number_text_or_secret_reaches_a_log_or_a_trace(local: LocalStack) -> None:
    started = time.time()
    try:
        texts = _traffic(local)
    finally:
        local.sim("POST", "/_sim/reset")
    traces = Path(local.config["traces_file"])
    _wait(lambda: _traces_complete(traces, started), "every trace document of this traffic")
    logs = sorted(Path(local.config["logs_dir"]).glob("*.log"))
    assert {p.stem for p in logs} >= {"SendFunction", "QueueFunction", "WebhookFunction"}
    secret_values = _stack_secrets(local)
    assert len(secret_values) >= 3  # at least the API key, the Sinch API token, the webhook secret
    needles = [("message text", t) for t in texts] + [("secret", s) for s in secret_values]

    report = scan(logs, [traces], needles)

    print(
        f"\nscanned {report.log_lines} log lines in {len(logs)} function logs and "
        f"{report.trace_documents} trace documents for any phone number, "
        f"{len(texts) // 2} message texts and subjects (and their markers), {len(secret_values)} secrets"
    )
    assert report.log_lines > 50 and report.trace_documents > 100
    assert report.leaks == [], "\n".join(map(str, report.leaks[:50]))
