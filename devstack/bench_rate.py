"""How much of Sinch's rate the gateway uses, and what each delivered SMS costs in AWS calls.

Sends `count` SMS through the API as fast as `concurrency` clients can, with the simulator's
per-plan rate limit set to the rate the stack was deployed with (`SinchRatePerSecond`), below
what the stack can push. Then waits for every message to be delivered and measures, from the
simulator's request log: the rate Sinch accepted batches at against the limit, the share of calls
answered 429, messages lost or doubled; and from the local workers: AWS calls per delivered SMS by
function (DynamoDB writes by kind of item), log bytes and Lambda time per delivered SMS, the inputs
of `devstack.cost`.

`measure_rate(state, rate_limit=...)` measures a running stack (its `stack.json` state, started
with DEVSTACK_AWS_CALLS_DIR set for the AWS calls); `python -m devstack.bench_rate` starts one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack import aws_calls
from devstack.fault_suite import FINAL, _http
from devstack.runtime import DEFAULT_POOL_SIZE
from sinch_gateway.data.messages import CLIENT_REFERENCE_INDEX, tenant_ref

if TYPE_CHECKING:
    from devstack.stack import LocalStack

FUNCTIONS = ("SendFunction", "QueueFunction", "WebhookFunction")
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_DURATION = re.compile(r"^REPORT RequestId: \S+\tDuration: ([0-9.]+) ms", re.MULTILINE)


@contextlib.contextmanager
def fresh_stack(
    rate_per_s: float,
    state_dir: Path | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    parameters: Mapping[str, str] | None = None,
) -> Iterator[LocalStack]:
    """A local stack on free ports whose senders share `rate_per_s` (0: not coordinated),
    recording AWS calls, with `pool_size` workers per function and other template `parameters`.

    Workers are Lambda's concurrency here: a sender waiting for its slot holds its worker, as it
    holds its Lambda, so too few of them would cap what the stack can push below the rate.
    """
    from devstack.stack import LocalStack, StackConfig

    with contextlib.ExitStack() as cleanup:
        if state_dir is None:
            state_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-rate-")))
        # Workers inherit the stack's environment: this is how they learn to record AWS calls.
        saved = os.environ.get(aws_calls.ENV)
        os.environ[aws_calls.ENV] = str(state_dir / "aws-calls")
        cleanup.callback(_restore, aws_calls.ENV, saved)
        # moto's state is the process's: a second stack in this process must not find this one's
        # tables (registered first, so it runs once the stack has stopped).
        cleanup.callback(_forget_aws_state)
        config = StackConfig.on_free_ports(
            state_dir,
            tracing=False,
            pool_size=pool_size,
            parameter_overrides={**(parameters or {}), "SinchRatePerSecond": f"{rate_per_s:g}"},
        )
        yield cleanup.enter_context(LocalStack(config, log=lambda line: None))


def _forget_aws_state() -> None:
    from moto.core.base_backend import BackendDict

    BackendDict.reset()


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def measure_rate(
    state: dict[str, Any],
    *,
    rate_limit: float | None,
    count: int = 300,
    concurrency: int = 16,
    timeout_s: float = 300,
) -> dict[str, Any]:
    """Send `count` SMS against the stack `state` (deployed with SinchRatePerSecond=rate_limit)
    while the simulator allows `rate_limit` calls per second (None: no limit, to measure what
    the stack can push); the figures as a dict."""
    api, key, sim = state["api_url"].rstrip("/"), state["api_key"], state["sinch_url"].rstrip("/")
    logs_dir = Path(state["logs_dir"]) if state.get("logs_dir") else None
    calls_dir = Path(os.environ.get(aws_calls.ENV, "")) if os.environ.get(aws_calls.ENV) else None
    answers: Counter[str] = Counter()
    lock = threading.Lock()

    def send(reference: str, n: int) -> str | None:
        body = {"to": "+12025550143", "text": f"bench {n}", "clientReference": reference}
        status, answer = _http("POST", f"{api}/v1/messages", body, key)
        with lock:
            answers[
                str(answer.get("status")) if status == 202 and isinstance(answer, dict) else str(status)
            ] += 1
        return str(answer["id"]) if status == 202 and isinstance(answer, dict) else None

    # Warm every worker first: cold starts are the cold-start benchmark's, not this one's.
    warm = f"bench-warm-{int(time.time() * 1000)}"
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        warmed = sum(1 for i in pool.map(lambda n: send(warm, n), range(concurrency)) if i)
    _settle(state, warm, warmed, timeout_s)
    answers.clear()
    calls_before = _aws_calls(calls_dir)
    logs_before = _log_sizes(logs_dir)
    _http("POST", f"{sim}/_sim/reset")
    _http("POST", f"{sim}/_sim/config", {"rate_limit": rate_limit})
    reference = f"bench-rate-{int(time.time() * 1000)}"

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        ids = [i for i in pool.map(lambda n: send(reference, n), range(count)) if i]
    sent_s = time.monotonic() - started
    messages = _settle(state, reference, len(ids), timeout_s)
    settled_s = time.monotonic() - started
    _http("POST", f"{sim}/_sim/config", {"rate_limit": None})
    _, requests = _http("GET", f"{sim}/_sim/requests")
    sinch = _sinch_figures(requests if isinstance(requests, list) else [], rate_limit)
    delivered = sum(1 for m in messages.values() if m["status"] == "delivered")
    calls = _per_function(_aws_calls(calls_dir), calls_before)
    logs = _log_figures(logs_dir, logs_before)
    return {
        "count": count,
        "rate_limit_per_s": rate_limit,
        "concurrency": concurrency,
        "api_answers": dict(answers),
        "accepted": len(ids),
        "delivered": delivered,
        "final": dict(Counter(m["status"] for m in messages.values())),
        "lost": len(ids) - len(messages) + sum(1 for m in messages.values() if m["status"] not in FINAL),
        "send_seconds": round(sent_s, 2),
        "settle_seconds": round(settled_s, 2),
        **sinch,
        **usage_per(calls, logs, delivered),
    }


def usage_per(calls: dict[str, Any], logs: dict[str, Any], count: int) -> dict[str, Any]:
    """AWS calls by function, DynamoDB item writes by kind of item, invocations, their mean time
    and log bytes, each per one of `count` (delivered messages, or a batch's recipients): the
    inputs of `devstack.cost`. `calls` as `_per_function` gives them, `logs` as `_log_figures`."""
    per = max(1, count)
    return {
        "aws_calls_per_delivered": {
            function: {action: round(n / per, 3) for action, n in sorted(actions.items())}
            for function, actions in calls["actions"].items()
        },
        "dynamodb_writes_per_delivered": {
            kind: round(n / per, 3) for kind, n in sorted(calls["writes"].items())
        },
        "invocations_per_delivered": {f: round(n / per, 3) for f, n in logs["invocations"].items()},
        "lambda_ms_per_invocation": logs["mean_ms"],
        "log_bytes_per_delivered": {f: round(n / per) for f, n in logs["bytes"].items()},
    }


def _settle(
    state: dict[str, Any], reference: str, expected: int, timeout_s: float
) -> dict[str, dict[str, Any]]:
    """The messages with `reference` once all are final (or the time is up), read from the table
    itself: polling through the API would add its own calls to the figures."""
    from devstack import aws

    db = aws.client("dynamodb", state["aws_endpoint_url"], state["region"])
    deadline = time.monotonic() + timeout_s
    while True:
        messages: dict[str, dict[str, Any]] = {}
        query: dict[str, Any] = {
            "TableName": state["messages_table"],
            "IndexName": CLIENT_REFERENCE_INDEX,
            "KeyConditionExpression": "tenantRef = :ref",
            "ExpressionAttributeValues": {":ref": {"S": tenant_ref(state["api_key_id"], reference)}},
        }
        while True:
            page = db.query(**query)
            messages.update({i["id"]["S"]: {"status": i["status"]["S"]} for i in page.get("Items", [])})
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        done = len(messages) >= expected and all(m["status"] in FINAL for m in messages.values())
        if done or time.monotonic() > deadline:
            return messages
        time.sleep(1)


def _sinch_figures(requests: list[dict[str, Any]], rate_limit: float | None) -> dict[str, Any]:
    """Calls to XMS, 429s among them, and the rate at which Sinch took batches."""
    xms = [r for r in requests if "/batches" in r["path"] and r.get("response")]
    statuses = Counter(int(r["response"]["status"]) for r in xms)
    created = sorted(
        datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp()
        for r in xms
        if r["method"] == "POST" and r["response"]["status"] == 201
    )
    references = Counter(
        r["body"].get("client_reference")
        for r in xms
        if r["method"] == "POST" and r["response"]["status"] == 201 and isinstance(r["body"], dict)
    )
    span = created[-1] - created[0] if len(created) > 1 else 0.0
    achieved = (len(created) - 1) / span if span else 0.0
    return {
        "sinch_calls": len(xms),
        "sinch_answers": {str(k): v for k, v in sorted(statuses.items())},
        "sinch_429_share": round(statuses[429] / len(xms), 4) if xms else 0.0,
        "batches_created": len(created),
        "doubled": sum(1 for n in references.values() if n > 1),
        "achieved_per_s": round(achieved, 2),
        "rate_used": round(achieved / rate_limit, 4) if rate_limit else 0.0,
    }


def _aws_calls(directory: Path | None) -> dict[str, list[dict[str, Any]]]:
    if directory is None or not directory.is_dir():
        return {}
    return {path.stem: aws_calls.read(path) for path in directory.glob("*.jsonl")}


def _logical_id(function_name: str) -> str:
    return next((f for f in FUNCTIONS if f in function_name), function_name)


def _per_function(
    after: dict[str, list[dict[str, Any]]], before: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    actions: dict[str, Counter[str]] = {}
    writes: Counter[str] = Counter()
    for name, records in after.items():
        function = _logical_id(name)
        for record in records[len(before.get(name, [])) :]:
            actions.setdefault(function, Counter())[record["action"]] += 1
            service, _, operation = record["action"].partition(":")
            if service == "dynamodb" and operation in WRITES:
                writes[f"{function}:{_item_kind(record)}"] += 1
    return {"actions": actions, "writes": writes}


def _item_kind(record: dict[str, Any]) -> str:
    """Which kind of item a DynamoDB write touched: a message, a batch, the rate, a nonce, ..."""
    table = str(record.get("TableName", ""))
    item_id = str(record.get("id", ""))
    if "Idempotency" in table:
        return "idempotency"
    if "BatchesTable" in table:
        return "batch"  # a batch's own record (its recipients' messages are messages)
    if "#" in item_id:
        return item_id.split("#", 1)[0]  # rate, nonce, unmatched, postback
    return "message"


def _log_sizes(directory: Path | None) -> dict[str, int]:
    if directory is None or not directory.is_dir():
        return {}
    return {path.stem: path.stat().st_size for path in directory.glob("*.log")}


def _log_figures(directory: Path | None, before: dict[str, int]) -> dict[str, Any]:
    """Bytes logged, invocations and their mean duration per function since `before`."""
    figures: dict[str, Any] = {"bytes": {}, "invocations": {}, "mean_ms": {}}
    if directory is None:
        return figures
    for function in FUNCTIONS:
        path = directory / f"{function}.log"
        if not path.exists():
            continue
        with path.open("rb") as log:
            log.seek(before.get(function, 0))
            text = log.read().decode(errors="replace")
        durations = [float(d) for d in _DURATION.findall(text)]
        figures["bytes"][function] = len(text.encode())
        figures["invocations"][function] = len(durations)
        figures["mean_ms"][function] = round(sum(durations) / len(durations), 1) if durations else 0.0
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="Sinch's limit, calls per second (0: none, and no shared rate)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, help="also write the figures there, as JSON")
    parser.add_argument(
        "--capacity-count",
        type=int,
        default=100,
        help="SMS sent first through a stack with no rate, to measure what it can push (0: skip)",
    )
    args = parser.parse_args(argv)
    # The rate is only a fair test below what the stack can push: measured, not assumed.
    capacity = _capacity(args.capacity_count, args.concurrency) if args.capacity_count and args.rate else None
    with fresh_stack(args.rate) as stack:
        figures = measure_rate(
            stack.state(), rate_limit=args.rate or None, count=args.count, concurrency=args.concurrency
        )
    figures["capacity_per_s"] = capacity
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(figures), encoding="utf-8")
    ok = figures["lost"] == 0 and figures["sinch_429_share"] < 0.01 and figures["rate_used"] >= 0.95
    return 0 if ok and (capacity is None or capacity > args.rate) else 1


def _capacity(count: int, concurrency: int) -> float:
    """Sinch calls a second that a stack with no rate pushes, with no limit at the simulator. In a
    process of its own: moto's backends are per process, and a second stack in this one would
    find the first one's tables."""
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as scratch:
        out = Path(scratch) / "capacity.json"
        command = [sys.executable, "-m", "devstack.bench_rate", "--rate", "0", "--count", str(count)]
        command += ["--concurrency", str(concurrency), "--out", str(out)]
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL, timeout=1800)  # noqa: S603 - our own module
        return float(json.loads(out.read_text(encoding="utf-8"))["achieved_per_s"])


if __name__ == "__main__":
    sys.exit(main())
