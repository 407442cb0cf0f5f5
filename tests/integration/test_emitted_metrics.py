"""Every metric the template's alarms and dashboard read is one the functions emit, under the same
namespace and dimensions: an alarm on a metric nobody emits never fires.

The handlers run the flows an on-call engineer watches (sends, Sinch answers of every class,
final statuses, retries, dead letters, refused callbacks); their EMF output is collected and
compared with what the template (observability.yaml, inlined) references.
"""

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.template import read_template
from sinch_gateway.domain.content import Api
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.webhook_auth import signature
from sinch_gateway.measures import CONNECT_ERROR, NO_ANSWER, answer_class
from tests.integration.conftest import ROOT, TENANT, WEBHOOK_SECRET, Env, forget_cached_secrets

TEMPLATE = read_template(ROOT / "template.yaml")
NAMESPACE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
SMS = {"to": "+12025550143", "text": "Hello from the metrics test"}

Metric = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, dimensions

# The values a dimension can take, from the code: a reference may name one no flow here produced
# (the MMS JSON API's answers), but never one the code cannot emit.
DIMENSION_VALUES = {
    "status": {s.value for s in Status if s.is_final},
    "api": {a.value for a in Api},
    "answer": {answer_class(code) for code in range(100, 600)} | {CONNECT_ERROR, NO_ANSWER},
}


def emitted_metrics(stdout: str) -> set[Metric]:
    """Each metric of each EMF record, once per dimension set it is recorded under."""
    found: set[Metric] = set()
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for definition in directive["Metrics"]:
                for keys in directive["Dimensions"]:
                    dimensions = frozenset((key, str(record[key])) for key in keys)
                    found.add((directive["Namespace"], definition["Name"], dimensions))
    return found


def _dimensions(pairs: list[Any]) -> frozenset[tuple[str, str]]:
    # A value may be an intrinsic function (a Ref to a function, a queue's name): kept as JSON.
    return frozenset(
        (d["Name"], d["Value"] if isinstance(d["Value"], str) else json.dumps(d["Value"])) for d in pairs
    )


def alarm_metrics(template: dict[str, Any]) -> Iterator[tuple[str, Metric]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if "MetricName" in props:
            dimensions = _dimensions(props.get("Dimensions", []))
            yield logical_id, (props["Namespace"], props["MetricName"], dimensions)
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                dimensions = _dimensions(metric.get("Dimensions", []))
                yield logical_id, (metric["Namespace"], metric["MetricName"], dimensions)


def dashboard_metrics(template: dict[str, Any]) -> Iterator[tuple[str, Metric]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        # ${...} are the stack's names (functions, queues, region): none is in our namespace.
        body = json.loads(re.sub(r"\$\{[^}]+\}", "x", resource["Properties"]["DashboardBody"]["Fn::Sub"]))
        for widget in body["widgets"]:
            for entry in widget.get("properties", {}).get("metrics", []):
                fields = [f for f in entry if not isinstance(f, dict)]
                assert "..." not in fields and "." not in fields, f"{logical_id}: write each metric out"
                namespace, name, *pairs = fields
                dimensions = frozenset(zip(pairs[::2], pairs[1::2], strict=True))
                yield logical_id, (namespace, name, dimensions)


def referenced(template: dict[str, Any]) -> list[tuple[str, Metric]]:
    return [(where, m) for where, m in [*alarm_metrics(template), *dashboard_metrics(template)]]


def unemitted(references: list[tuple[str, Metric]], emitted: set[Metric]) -> list[str]:
    """The references to our namespace that no emitted metric answers, in words."""
    missing = []
    for where, (namespace, name, dimensions) in references:
        if not namespace.startswith("AWS/") and not any(
            (namespace, name) == (ns, n) and matches(dimensions, d) for ns, n, d in emitted
        ):
            missing.append(f"{where}: {namespace} {name} {dict(dimensions)}")
    return missing


def matches(wanted: frozenset[tuple[str, str]], got: frozenset[tuple[str, str]]) -> bool:
    """Same dimension names; each value the same, or one the code can emit for that dimension."""
    wanted_by_key, got_by_key = dict(wanted), dict(got)
    return wanted_by_key.keys() == got_by_key.keys() and all(
        value == got_by_key[key] or value in DIMENSION_VALUES.get(key, set())
        for key, value in wanted_by_key.items()
    )


def report(message_id: str, batch_id: str, status: str) -> dict[str, Any]:
    return {
        "type": "recipient_delivery_report_sms",
        "batch_id": batch_id,
        "recipient": SMS["to"],
        "code": 0,
        "status": status,
        "at": "2026-11-23T19:00:03.120Z",
        "client_reference": message_id,
    }


def signed_twice(env: Env, report: dict[str, Any]) -> list[int]:
    """The same signed report delivered twice (a replay, when not Sinch's own resend)."""
    body, nonce, at = json.dumps(report), uuid.uuid4().hex, str(int(time.time()))
    headers = {
        "x-sinch-webhook-signature": signature(WEBHOOK_SECRET, body, nonce, at),
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": at,
    }
    path = "/v1/webhooks/sinch/delivery-reports"
    return [env.api("WebhookFunction", "POST", path=path, body=body, headers=headers)[0] for _ in range(2)]


def run_the_flows(env: Env) -> None:
    for sinch_status in ("Delivered", "Failed", "Expired", "Rejected", "Cancelled", "Aborted", "Deleted"):
        status, body = env.send(SMS)
        assert status == 202, body
        batch = env.stored(body["id"])["sinchId"]
        assert env.report(report(body["id"], batch, sinch_status))[0] == 200
    assert env.report(report(body["id"], batch, "Delivered"), secret="not-the-secret")[0] == 401
    assert env.report(report("0" * 26, batch, "Delivered"))[0] == 200  # no such message
    assert env.report({"type": "fax"})[0] == 400
    resent = signed_twice(env, report(body["id"], batch, "Delivered"))
    assert resent == [200, 401]
    for fault in (
        {"status": 503},  # retried
        {"status": 429, "retry_after": 0},
        {"status": 400},  # refused
        {"drop_connection": True},
        {"status": 401, "times": 2},  # also after reading the credentials again
    ):
        env.faults({"match": "batches", "times": 1, **fault})
        assert env.send(SMS)[0] in (202, 400, 401, 422, 502, 503), fault
    env.set_secret(base_url="http://127.0.0.1:9")  # nothing listens there
    forget_cached_secrets()
    env.send(SMS)
    env.set_secret()
    forget_cached_secrets()
    env.consume(json.dumps(SMS))  # a send request from another service
    env.consume("{}", tenant=None)  # no tenant: parked on the DeadLetterQueue


def test_every_metric_the_alarms_and_dashboard_read_is_emitted(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    run_the_flows(env)
    emitted = emitted_metrics(capsys.readouterr().out)

    references = referenced(TEMPLATE)
    assert len([m for _, m in references if m[0] == NAMESPACE]) >= 20
    assert unemitted(references, emitted) == []
    assert {ns for ns, _, _ in emitted} == {NAMESPACE}
    # Per tenant: two metrics only (docs/operations.md says why), named by the API key id.
    service, tenant = ("service", "sinch-gateway"), ("tenant", TENANT)
    assert (NAMESPACE, "MessagesAccepted", frozenset({service, tenant})) in emitted
    assert (NAMESPACE, "FinalStatus", frozenset({service, tenant, ("status", "delivered")})) in emitted
    assert {name for _, name, dims in emitted if "tenant" in dict(dims)} == {
        "MessagesAccepted",
        "FinalStatus",
    }


def test_the_check_finds_a_reference_to_a_metric_nobody_emits() -> None:
    service = ("service", "sinch-gateway")
    emitted = {(NAMESPACE, "FinalStatus", frozenset({service, ("status", "delivered")}))}
    references = [
        ("A", (NAMESPACE, "FinalStatus", frozenset({service, ("state", "failed")}))),
        ("B", (NAMESPACE, "FinalStatus", frozenset({service, ("status", "lost")}))),
        ("C", (NAMESPACE, "MessagesDelivered", frozenset({service}))),
        ("D", (NAMESPACE, "FinalStatus", frozenset({service}))),
        ("E", ("Elsewhere", "FinalStatus", frozenset({service, ("status", "failed")}))),
        ("F", (NAMESPACE, "FinalStatus", frozenset({service, ("status", "failed")}))),
        ("G", ("AWS/SQS", "ApproximateAgeOfOldestMessage", frozenset({("QueueName", "x")}))),
    ]
    assert [m.split(":")[0] for m in unemitted(references, emitted)] == ["A", "B", "C", "D", "E"]
