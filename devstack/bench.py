"""Benchmark: cold init, warm per-request overhead and queue throughput.

Each figure comes with a baseline measured in the same run on the same machine, so the ratio
means something on a noisy VM:

- cold init: importing each function's handler in a fresh interpreter (Lambda's Init phase),
  against importing boto3 and creating one client (what any Python function using AWS pays);
- warm per request: a handler call, against replaying the very AWS and Sinch requests that call
  made, with plain boto3 and urllib3 (the difference is our code's overhead);
- queue throughput: messages per second sent through SendQueue -> RetryFunction -> Sinch in the
  local stack, against receiving and deleting the same number of messages from SQS directly.

Run with `make bench` or `python -m devstack.bench [--requests N] [--messages N]`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import urllib3
from botocore import xform_name

from devstack import aws
from devstack.runtime import function_environment
from devstack.stack import LocalStack, StackConfig
from devstack.template import FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
TIMER = "import time, sys; t0 = time.perf_counter(); {stmt}; print(time.perf_counter() - t0)"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def fresh_interpreter_s(stmt: str, env: dict[str, str], cwd: Path, path: list[Path]) -> float:
    setup = f"sys.path[:0] = {[str(p) for p in path]!r}; {stmt}"
    out = subprocess.run(  # noqa: S603 - our own interpreter and snippet
        [sys.executable, "-c", TIMER.format(stmt=setup)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_init(stack: LocalStack, repeats: int) -> list[tuple[str, float, float]]:
    assert stack.template is not None
    rows = []
    for spec in stack.template.functions():
        env = function_environment(
            spec, aws_endpoint_url=stack.aws_endpoint_url, region=stack.template.region
        )
        path = [spec.code_dir, *spec.layer_dirs]
        baseline = [
            fresh_interpreter_s(
                "import boto3; boto3.session.Session().client('dynamodb')", env, spec.code_dir, path
            )
            for _ in range(repeats)
        ]
        ours = [fresh_interpreter_s("import app", env, spec.code_dir, path) for _ in range(repeats)]
        rows.append((spec.logical_id, median_ms(ours), median_ms(baseline)))
    return rows


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def stack_enter(manager: contextlib.AbstractContextManager[Any]) -> contextlib.ExitStack:
    exit_stack = contextlib.ExitStack()
    exit_stack.enter_context(manager)
    return exit_stack


@contextmanager
def function_env(spec: FunctionSpec, stack: LocalStack) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """The handler of `spec`, imported in this process with the function's environment."""
    assert stack.template is not None
    saved, saved_path = dict(os.environ), list(sys.path)
    quiet = stack_enter(contextlib.redirect_stdout(open(os.devnull, "w")))  # noqa: SIM115
    os.environ.update(
        function_environment(spec, aws_endpoint_url=stack.aws_endpoint_url, region=stack.template.region)
    )
    sys.path[:0] = [str(spec.code_dir), *map(str, spec.layer_dirs)]
    sys.modules.pop("app", None)
    import app  # type: ignore[import-not-found]

    try:
        yield lambda event: app.lambda_handler(event, _Context())
    finally:
        quiet.close()
        sys.modules.pop("app", None)
        os.environ.clear()
        os.environ.update(saved)
        sys.path[:] = saved_path


def paired(ours: Callable[[], object], baseline: Callable[[], object], n: int) -> tuple[float, float]:
    """Median ms of each, measured alternately so both see the same background load."""
    ours(), baseline()  # warm: connections and caches as in a warm container
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(n):
        for call, bucket in ((ours, samples[0]), (baseline, samples[1])):
            start = time.perf_counter()
            call()
            bucket.append(time.perf_counter() - start)
    return median_ms(samples[0]), median_ms(samples[1])


def api_event(name: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    event.update(changes)
    return event


def warm_requests(stack: LocalStack, n: int) -> list[tuple[str, float, float]]:
    """Each handler call against a replay, with plain boto3 and urllib3, of the very requests
    that call made: what remains is our code's overhead."""
    assert stack.template is not None
    ddb = aws.client("dynamodb", stack.aws_endpoint_url, stack.template.region)
    http = urllib3.PoolManager()

    def replayer(
        calls: list[tuple[str, Any]], old_id: str, sinch: dict[str, Any] | None
    ) -> Callable[[], None]:
        def replay() -> None:
            new_id = str(uuid.uuid4()) if sinch else old_id  # a send creates a new message each time
            for operation, params in calls:
                # A stale report's write fails its condition, in the handler as here.
                with contextlib.suppress(ddb.exceptions.ConditionalCheckFailedException):
                    getattr(ddb, xform_name(operation))(
                        **json.loads(json.dumps(params).replace(old_id, new_id))
                    )
            if sinch:
                http.request(
                    "POST",
                    sinch["url"],
                    body=sinch["body"].replace(old_id, new_id).encode(),
                    headers=sinch["headers"],
                )

        return replay

    rows = []
    with function_env(stack.template.function("SendFunction"), stack) as send:
        from sinch_gateway.data import aws as gateway_aws

        client = gateway_aws.dynamodb()
        post = api_event("api-send-sms.json")
        send(post)
        calls, message_id = recorded_dynamodb_calls(client, lambda: send(post))
        replay = replayer(calls, message_id, last_batch_request(http, stack.sinch_url))
        rows.append(("SendFunction POST /v1/messages", *paired(lambda: send(post), replay, n)))
        get = api_event(
            "api-get-message.json", path=f"/v1/messages/{message_id}", pathParameters={"id": message_id}
        )
        calls, _ = recorded_dynamodb_calls(client, lambda: send(get))
        rows.append(
            (
                "SendFunction GET /v1/messages/{id}",
                *paired(lambda: send(get), replayer(calls, message_id, None), n),
            )
        )
    with function_env(stack.template.function("DeliveryReportFunction"), stack) as report:
        from sinch_gateway.data import aws as gateway_aws

        def delivered() -> Any:
            return report(signed_report(stack, message_id))

        calls, _ = recorded_dynamodb_calls(gateway_aws.dynamodb(), delivered)
        rows.append(
            ("DeliveryReportFunction POST report", *paired(delivered, replayer(calls, message_id, None), n))
        )
    return rows


def recorded_dynamodb_calls(client: Any, call: Callable[[], Any]) -> tuple[list[tuple[str, Any]], str]:
    """The DynamoDB requests `call` makes, and the message id they are about."""
    calls: list[tuple[str, Any]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, copy.deepcopy(params)))

    client.meta.events.register("provide-client-params.dynamodb", record)
    try:
        answer = call()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", record)
    return calls, str(json.loads(answer["body"]).get("id", ""))


def last_batch_request(http: urllib3.PoolManager, sinch_url: str) -> dict[str, Any]:
    entry = [
        r
        for r in json.loads(http.request("GET", f"{sinch_url}/_sim/requests").data)
        if r["method"] == "POST" and r["path"].endswith("/batches")
    ][-1]
    headers = {k: v for k, v in entry["headers"].items() if k.lower() in ("authorization", "content-type")}
    return {"url": f"{sinch_url}{entry['path']}", "body": json.dumps(entry["body"]), "headers": headers}


def signed_report(stack: LocalStack, message_id: str) -> dict[str, Any]:
    from sinch_gateway.domain.webhook_auth import signature

    body = json.dumps(
        {
            "type": "recipient_delivery_report_sms",
            "batch_id": "01JD8Y5K3M2N4P6Q8R0S2T4V6W",
            "recipient": "+12025550143",
            "code": 0,
            "status": "Delivered",
            "at": "2026-11-23T19:00:03.120Z",
            "client_reference": message_id,
        }
    )
    nonce, ts = uuid.uuid4().hex, str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-sinch-webhook-signature-nonce": nonce,
        "x-sinch-webhook-signature-timestamp": ts,
        "x-sinch-webhook-signature": signature(stack.webhook_secret, body, nonce, ts),
    }
    return api_event(
        "api-delivery-report.json",
        body=body,
        headers=headers,
        multiValueHeaders={k: [v] for k, v in headers.items()},
    )


def queue_throughput(stack: LocalStack, count: int) -> tuple[float, float]:
    """Messages per second: ours through the stack, and SQS receive+delete alone."""
    assert stack.template is not None and stack.resources is not None
    region = stack.template.region
    sqs = aws.client("sqs", stack.aws_endpoint_url, region)
    ddb = aws.client("dynamodb", stack.aws_endpoint_url, region)
    table = stack.resources.tables["MessagesTable"].name
    send_queue = stack.resources.queues["SendQueue"].url
    ids = [str(uuid.uuid4()) for _ in range(count)]
    callback = f"{stack.api_url}/v1/webhooks/sinch/delivery-reports"
    for message_id in ids:
        ddb.put_item(
            TableName=table,
            Item={
                "id": {"S": message_id},
                "tenantId": {"S": stack.tenants[0].api_key_id},
                "channel": {"S": "sms"},
                "to": {"S": "+12025550143"},
                "text": {"S": "bench"},
                "status": {"S": "accepted"},
                "statusRank": {"N": "0"},
                "attempts": {"N": "0"},
                "events": {"L": []},
                "callbackUrl": {"S": callback},
                "createdAt": {"S": "2026-11-23T19:00:00+00:00"},
                "updatedAt": {"S": "2026-11-23T19:00:00+00:00"},
            },
        )
    start = time.perf_counter()
    send_in_batches(sqs, send_queue, [json.dumps({"kind": "retry", "messageId": i}) for i in ids])
    pending = set(ids)
    while pending:
        time.sleep(0.2)
        for message_id in list(pending)[:100]:
            item = ddb.get_item(TableName=table, Key={"id": {"S": message_id}})["Item"]
            if item["status"]["S"] != "accepted":
                pending.discard(message_id)
    ours = count / (time.perf_counter() - start)

    scratch = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    start = time.perf_counter()
    send_in_batches(sqs, scratch, ["{}"] * count)
    received = 0
    while received < count:
        messages = sqs.receive_message(QueueUrl=scratch, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            sqs.delete_message_batch(
                QueueUrl=scratch,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
        received += len(messages)
    baseline = count / (time.perf_counter() - start)
    return ours, baseline


def send_in_batches(sqs: Any, queue_url: str, bodies: list[str]) -> None:
    for first in range(0, len(bodies), 10):
        chunk = bodies[first : first + 10]
        sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(chunk)]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="cold starts per function")
    parser.add_argument("--requests", type=int, default=100, help="warm requests per route")
    parser.add_argument("--messages", type=int, default=300, help="messages through the queue")
    args = parser.parse_args(argv)
    config = StackConfig(
        state_dir=None, api_port=0, aws_port=0, sinch_port=0, log_prefix=False, report=False, access_log=False
    )
    report: list[str] = []
    with LocalStack(config, log=lambda line: None) as stack:
        report.append(f"cold init (median of {args.repeats}; baseline: import boto3 + one client)")
        for name, ours, base in cold_init(stack, args.repeats):
            report.append(f"  {name:<24} {ours:7.0f} ms   baseline {base:6.0f} ms   ratio {ours / base:4.2f}")
        report.append(
            f"warm per request (median of {args.requests}; "
            "baseline: the same requests replayed with plain boto3 and urllib3)"
        )
        for name, ours, base in warm_requests(stack, args.requests):
            report.append(
                f"  {name:<36} {ours:6.1f} ms   baseline {base:6.1f} ms   ratio {ours / base:4.2f}"
                f"   overhead {ours - base:5.1f} ms"
            )
        ours_rate, base_rate = queue_throughput(stack, args.messages)
        report.append(f"queue throughput ({args.messages} messages; baseline: SQS receive+delete alone)")
        report.append(
            f"  SendQueue -> RetryFunction -> Sinch   {ours_rate:6.1f} msg/s   "
            f"baseline {base_rate:6.1f} msg/s   ratio {ours_rate / base_rate:4.2f}"
        )
    # Printed once the functions' own output has stopped.
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
