"""Benchmark: every figure beside a baseline measured in the same run, on the same machine.

A noisy, shared VM makes absolute times meaningless; ratios to a baseline taken alternately with
the figure are what to read. Sections (SECTIONS, below, each a function returning rows):

- import: each function's handler imported in a fresh interpreter (Lambda's Init phase), against
  a bare `import urllib3, json` (the floor of any Python function that talks HTTP);
- cold first response: a fresh process that imports the handler and answers one real
  POST /v1/messages (moto and the Sinch simulator answering), against a lean hand-written handler
  doing the same AWS and Sinch calls with botocore and urllib3 only (devstack/bench_lean.py), and
  the same job done with boto3 and Sinch's official SDK (devstack/bench_sdk_peer.py);
- warm overhead p50/p99: a handler call against replaying the very AWS and Sinch requests it made;
- AWS calls per delivered message, each function's, through the whole local stack;
- end-to-end latency p50/p95 for an SMS and an MMS (API call to `delivered` stored), against
  Sinch alone (the simulator's batch call to its delivery report arriving);
- the Sinch rate used and the share of 429s with 16 clients pushing past the plan's limit,
  DynamoDB writes per delivered SMS, and cost per 1M SMS from that run's counts (devstack.cost);
- status callback fairness: tenant B's callback latency p50/p95 while tenant A's receivers hang or
  answer 500, against B's with A quiet (devstack.bench_callbacks).
- each tenant's fair share of that rate: tenant B's time to reach Sinch and B's rate while
  tenant A floods at 10x, beside B alone (devstack.bench_fairness);
- batches: a 10,000-recipient batch beside the same recipients one POST each: its 202, all
  submitted, all final, Sinch calls, writes and cost per recipient (devstack.bench_batches).

Cold processes run on a Lambda-like runtime: the base interpreter without site-packages (`-S`),
with only the layer as `sam build` makes it (.bench/layer, from the layer's own Makefile) and the
boto3 Lambda provides (.bench/runtime) on the path, writing no bytecode (Lambda's file systems are
read-only); never the development venv (its dev tools and editable install would distort it).

Run with `make bench`; writes docs/performance.json and docs/performance.md and prints one table.
`python -m devstack.bench --quick` runs every section with tiny counts (a smoke test).
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
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3
from botocore import xform_name

from devstack import aws
from devstack.aws_calls import ENV as AWS_CALLS_ENV
from devstack.aws_calls import read as read_aws_calls
from devstack.bench_bounded import rows_of as bounded_rows
from devstack.cost import cost_per_million as cost_of
from devstack.runtime import TraceContext, function_environment
from devstack.stack import LocalStack, StackConfig
from devstack.template import FunctionSpec
from devstack.xray_daemon import XRayDaemon

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
DOCS = ROOT / "docs"
RUNTIME = ROOT / ".bench" / "runtime"  # boto3, botocore and their dependencies, as Lambda provides them
LAYER = ROOT / ".bench" / "layer" / "python"  # the layer as `sam build` makes it (make bench)
SDK_PYTHON = ROOT / ".venv-bench-sdk" / "bin" / "python"  # boto3 + the sinch SDK (make bench)
FLOOR = "import urllib3, json"
PHONE = "+12025550143"
COLD_RESPONSE = """
import json, sys
import app
class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-cold"
    def get_remaining_time_in_millis(self): return 10000
with open(sys.argv[1]) as file:
    answer = app.lambda_handler(json.load(file), Context())
print(json.dumps({"statusCode": answer["statusCode"]}))
"""
# SnapStart, as far as it can be emulated here: Init runs, then a fork stands for the restore of
# its snapshot (memory as Init left it; the child's CPU counters start at zero), and only what the
# restored process does is timed. The platform's own restore (paging the snapshot in) is not in it.
RESTORED_RESPONSE = COLD_RESPONSE.replace(
    "with open(sys.argv[1]) as file:",
    """import os, resource, time
pid = os.fork()
if pid:
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
started = time.perf_counter()
with open(sys.argv[1]) as file:""",
).replace(
    'print(json.dumps({"statusCode": answer["statusCode"]}))',
    """usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"statusCode": answer["statusCode"], "wall_ms": (time.perf_counter() - started) * 1000,
                  "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000}))""",
)
RUN_SCRIPT = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"


@dataclass
class Row:
    """One figure and its baseline, measured in the same run."""

    section: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    extra: dict[str, float] = field(default_factory=dict)  # more figures of the same row
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


@dataclass
class Bench:
    """What every section gets: the running stack and the counts asked for."""

    stack: LocalStack
    repeats: int
    requests: int
    messages: int
    latency_messages: int
    xray_address: str
    workdir: Path


Section = Callable[[Bench], list[Row]]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- cold: whole processes on a Lambda-like runtime ---------------------------------------------


def base_python() -> str:
    return getattr(sys, "_base_executable", sys.executable)


def cold_env(bench: Bench, spec: FunctionSpec) -> dict[str, str]:
    """The function's Lambda environment with tracing on (Tracing: Active), sampled."""
    assert bench.stack.template is not None
    env = function_environment(
        spec,
        aws_endpoint_url=bench.stack.aws_endpoint_url,
        region=bench.stack.template.region,
        base={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        xray_daemon_address=bench.xray_address,
    )
    env["_X_AMZN_TRACE_ID"] = TraceContext.new(sampled=True).header()
    # The deployed layer, not our source tree: what Lambda runs is what its build shipped.
    assert [d.name for d in spec.layer_dirs] == ["messaging"], spec.layer_dirs
    env["PYTHONPATH"] = os.pathsep.join([str(spec.code_dir), str(LAYER), str(RUNTIME)])
    # /opt and /var/task are read-only on Lambda: no bytecode written by one run helps the next.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class Sample:
    wall_ms: float
    cpu_ms: float  # user + system: steadier than wall time when the machine is shared


def restored_process(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """The part of a RESTORED_RESPONSE process after its emulated restore, as it reports it."""
    return whole_process(argv, env, cwd, reported=True)


def whole_process(argv: list[str], env: dict[str, str], cwd: Path, *, reported: bool = False) -> Sample:
    """One whole process; one that prints a proxy answer must have answered 2xx. Its CPU time is
    its own (wait4), not that of the stack's workers this process also reaps; `reported`: the
    times the process printed with its answer instead."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = (time.perf_counter() - start) * 1000
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    lines = text.strip().splitlines()
    answer = json.loads(lines[-1]) if lines and lines[-1].startswith('{"statusCode"') else None
    if process.returncode != 0 or (answer is not None and not 200 <= answer["statusCode"] < 300):
        raise RuntimeError(f"{argv[:3]} failed: {text[-3000:]}")
    if reported:
        assert answer is not None, text[-3000:]
        return Sample(answer["wall_ms"], answer["cpu_ms"])
    return Sample(elapsed, (usage.ru_utime + usage.ru_stime) * 1000)


def paired_processes(runs: dict[str, Callable[[], Sample]], repeats: int) -> dict[str, list[Sample]]:
    """Each run `repeats` times, interleaved, so that all see the same background load."""
    samples: dict[str, list[Sample]] = {name: [] for name in runs}
    for run in runs.values():  # a first, unrecorded round: .pyc files, page cache
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            samples[name].append(run())
    return samples


def cold_row(section: str, name: str, ours: list[Sample], base: list[Sample], base_name: str) -> Row:
    cpu, base_cpu = statistics.median(s.cpu_ms for s in ours), statistics.median(s.cpu_ms for s in base)
    return Row(
        section,
        name,
        statistics.median(s.wall_ms for s in ours),
        "ms",
        statistics.median(s.wall_ms for s in base),
        base_name,
        extra={"cpu_ms": cpu, "baseline_cpu_ms": base_cpu, "cpu_ratio": cpu / base_cpu},
    )


def import_ratio(bench: Bench) -> list[Row]:
    assert bench.stack.template is not None
    rows = []
    for spec in bench.stack.template.functions():
        argv, env = [base_python(), "-S", "-c"], cold_env(bench, spec)
        samples = paired_processes(
            {
                "app": lambda: whole_process([*argv, "import app"], env, spec.code_dir),  # noqa: B023 - used in the loop
                "floor": lambda: whole_process([*argv, FLOOR], env, spec.code_dir),  # noqa: B023
            },
            bench.repeats,
        )
        rows.append(cold_row("import", spec.logical_id, samples["app"], samples["floor"], FLOOR))
    return rows


def cold_first_response(bench: Bench) -> list[Row]:
    assert bench.stack.template is not None
    spec = bench.stack.template.function("SendFunction")
    env = cold_env(bench, spec)
    event = bench.workdir / "cold-event.json"
    event.write_text(json.dumps(send_event(bench.stack, {"to": PHONE, "text": "Cold start"})))
    lean, peer = str(ROOT / "devstack" / "bench_lean.py"), str(ROOT / "devstack" / "bench_sdk_peer.py")
    python = [base_python(), "-S", "-c"]
    runs: dict[str, Callable[[], Sample]] = {
        "ours": lambda: whole_process([*python, COLD_RESPONSE, str(event)], env, spec.code_dir),
        "lean": lambda: whole_process([*python, RUN_SCRIPT, lean, str(event)], env, spec.code_dir),
        "restored": lambda: restored_process([*python, RESTORED_RESPONSE, str(event)], env, spec.code_dir),
    }
    if SDK_PYTHON.exists():
        sdk_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        runs["sdk"] = lambda: whole_process(
            [str(SDK_PYTHON), "-c", RUN_SCRIPT, peer, str(event)], sdk_env, spec.code_dir
        )
    samples = paired_processes(runs, bench.repeats)
    lean_name = "lean handler (botocore + urllib3)"
    rows = [
        cold_row(
            "cold first response",
            "SendFunction POST /v1/messages (ours)",
            samples["ours"],
            samples["lean"],
            lean_name,
        )
    ]
    rows.append(
        cold_row(
            "cold first response",
            "ours after an emulated SnapStart restore (Init, then fork; platform restore excluded)",
            samples["restored"],
            samples["lean"],
            lean_name,
        )
    )
    if "sdk" in samples:
        rows.append(
            cold_row(
                "cold first response",
                "same job, boto3 + sinch SDK (peer)",
                samples["sdk"],
                samples["lean"],
                lean_name,
            )
        )
    else:
        rows.append(
            Row(
                "cold first response",
                "same job, boto3 + sinch SDK (peer)",
                None,
                "ms",
                note="no .venv-bench-sdk: run make bench",
            )
        )
    return rows


# --- warm: in this process, against replays of the same requests --------------------------------


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@contextmanager
def function_env(spec: FunctionSpec, stack: LocalStack) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """The handler of `spec`, imported in this process with the function's environment."""
    assert stack.template is not None
    saved, saved_path = dict(os.environ), list(sys.path)
    quiet = contextlib.ExitStack()
    quiet.enter_context(contextlib.redirect_stdout(open(os.devnull, "w")))  # noqa: SIM115
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


def paired(
    ours: Callable[[], object], baseline: Callable[[], object], n: int
) -> tuple[list[float], list[float]]:
    """Samples (ms) of each, measured alternately so both see the same background load."""
    ours(), baseline()  # warm: connections and caches as in a warm container
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(n):
        for call, bucket in ((ours, samples[0]), (baseline, samples[1])):
            start = time.perf_counter()
            call()
            bucket.append((time.perf_counter() - start) * 1000)
    return samples


def warm_row(name: str, samples: tuple[list[float], list[float]]) -> Row:
    ours, base = samples
    p50, base_p50 = statistics.median(ours), statistics.median(base)
    return Row(
        "warm overhead",
        name,
        p50,
        "ms p50",
        base_p50,
        "same requests replayed (botocore + urllib3)",
        extra={
            "p99": percentile(ours, 99),
            "baseline_p99": percentile(base, 99),
            "overhead_p50": p50 - base_p50,
            "overhead_p99": percentile(ours, 99) - percentile(base, 99),
        },
    )


def api_event(name: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    event.update(changes)
    return event


def send_event(stack: LocalStack, body: dict[str, Any]) -> dict[str, Any]:
    event = api_event("api-send-sms.json", body=json.dumps(body))
    event["requestContext"]["identity"]["apiKeyId"] = stack.tenants[0].api_key_id
    return event


def warm_overhead(bench: Bench) -> list[Row]:
    """Each handler call against a replay, with plain botocore and urllib3, of the very requests
    that call made: what remains is our code's overhead."""
    stack, n = bench.stack, bench.requests
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
        post = send_event(stack, {"to": PHONE, "text": "Your order 1234 has shipped"})
        send(post)
        calls, message_id = recorded_dynamodb_calls(client, lambda: send(post))
        replay = replayer(calls, message_id, last_batch_request(http, stack.sinch_url))
        rows.append(warm_row("SendFunction POST /v1/messages", paired(lambda: send(post), replay, n)))
        get = send_event(stack, {})
        get.update(
            httpMethod="GET", body=None, path=f"/v1/messages/{message_id}", resource="/v1/messages/{id}"
        )
        get["pathParameters"] = {"id": message_id}
        calls, _ = recorded_dynamodb_calls(client, lambda: send(get))
        rows.append(
            warm_row(
                "SendFunction GET /v1/messages/{id}",
                paired(lambda: send(get), replayer(calls, message_id, None), n),
            )
        )
    with function_env(stack.template.function("WebhookFunction"), stack) as report:
        from sinch_gateway.data import aws as gateway_aws

        def delivered() -> Any:
            return report(signed_report(stack, message_id))

        calls, _ = recorded_dynamodb_calls(gateway_aws.dynamodb(), delivered)
        rows.append(
            warm_row("WebhookFunction POST report", paired(delivered, replayer(calls, message_id, None), n))
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
            "recipient": PHONE,
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


# --- through the whole local stack ---------------------------------------------------------------


def api_send(http: urllib3.PoolManager, stack: LocalStack, body: dict[str, Any]) -> str:
    answer = http.request(
        "POST",
        f"{stack.api_url}/v1/messages",
        body=json.dumps(body).encode(),
        headers={"x-api-key": stack.api_key, "content-type": "application/json"},
    )
    if answer.status != 202:
        raise RuntimeError(f"POST /v1/messages answered {answer.status}: {answer.data[:300]!r}")
    return str(json.loads(answer.data)["id"])


def wait_delivered(ddb: Any, table: str, ids: set[str], deadline_s: float) -> dict[str, float]:
    """When each message was first seen delivered (perf_counter), polling DynamoDB."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + deadline_s
    while len(seen) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(ids) - len(seen)} of {len(ids)} messages not delivered in {deadline_s} s"
            )
        for message_id in ids - seen.keys():
            item = ddb.get_item(TableName=table, Key={"id": {"S": message_id}}).get("Item", {})
            if item.get("status", {}).get("S") == "delivered":
                seen[message_id] = time.perf_counter()
        time.sleep(0.01)
    return seen


def callback_listener(arrived: dict[str, float]) -> ThreadingHTTPServer:
    """A bare listener for the simulator's delivery reports: when each reference was delivered."""
    lock = threading.Lock()

    class Callbacks(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if body.get("status") == "Delivered":
                with lock:
                    arrived.setdefault(str(body.get("client_reference")), time.perf_counter())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Callbacks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def sinch_alone_ms(
    http: urllib3.PoolManager, stack: LocalStack, batch: dict[str, Any], count: int
) -> list[float]:
    """The simulator's batch call to its delivery report reaching a bare listener: Sinch alone."""
    assert stack.template is not None
    arrived: dict[str, float] = {}
    server = callback_listener(arrived)
    secrets = aws.client("secretsmanager", stack.aws_endpoint_url, stack.template.region)
    credentials = json.loads(secrets.get_secret_value(SecretId=stack.sinch_secret_id() or "")["SecretString"])
    started: dict[str, float] = {}
    try:
        for _ in range(count):
            reference = str(uuid.uuid4())
            started[reference] = time.perf_counter()
            http.request(
                "POST",
                f"{stack.sinch_url}/xms/v1/{credentials['service_plan_id']}/batches",
                body=json.dumps(
                    {
                        **batch,
                        "to": [PHONE],
                        "from": credentials["from_number"],
                        "client_reference": reference,
                        "delivery_report": "per_recipient",
                        "callback_url": f"http://127.0.0.1:{server.server_address[1]}/",
                    }
                ).encode(),
                headers={
                    "Authorization": f"Bearer {credentials['api_token']}",
                    "Content-Type": "application/json",
                },
            )
            deadline = time.monotonic() + 30
            while reference not in arrived and time.monotonic() < deadline:
                time.sleep(0.005)
    finally:
        server.shutdown()
        server.server_close()
    return [(arrived[r] - t) * 1000 for r, t in started.items() if r in arrived]


def e2e_latency(bench: Bench) -> list[Row]:
    """API call to `delivered` stored, one message at a time (no queueing in the figure)."""
    stack = bench.stack
    assert stack.template is not None and stack.resources is not None
    ddb = aws.client("dynamodb", stack.aws_endpoint_url, stack.template.region)
    table = stack.resources.tables["MessagesTable"].name
    http = urllib3.PoolManager()
    media = f"{stack.sinch_url}/_sim/media/sample.jpg"
    kinds: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "SMS": ({"to": PHONE, "text": "Latency"}, {"type": "mt_text", "body": "Latency"}),
        "MMS": (
            {"to": PHONE, "text": "Latency", "mediaUrl": media},
            {"type": "mt_media", "body": {"url": media, "message": "Latency"}},
        ),
    }
    rows = []
    for kind, (request, batch) in kinds.items():
        samples = []
        for _ in range(bench.latency_messages):
            start = time.perf_counter()
            message_id = api_send(http, stack, request)
            samples.append((wait_delivered(ddb, table, {message_id}, 60)[message_id] - start) * 1000)
        baseline = sinch_alone_ms(http, stack, batch, bench.latency_messages)
        rows.append(
            Row(
                "end-to-end latency",
                f"{kind}: POST /v1/messages to delivered stored",
                statistics.median(samples),
                "ms p50",
                statistics.median(baseline) if baseline else None,
                "Sinch alone: batch call to its delivery report",
                extra={
                    "p95": percentile(samples, 95),
                    "baseline_p95": percentile(baseline, 95) if baseline else 0.0,
                },
            )
        )
    return rows


def aws_calls_per_message(bench: Bench) -> list[Row]:
    """AWS calls each function made per delivered message, over a batch of SMS through the API."""
    stack = bench.stack
    assert stack.template is not None and stack.resources is not None
    calls_dir = Path(os.environ[AWS_CALLS_ENV])
    for path in calls_dir.glob("*.jsonl"):
        path.unlink()
    ddb = aws.client("dynamodb", stack.aws_endpoint_url, stack.template.region)
    http = urllib3.PoolManager()
    ids = {api_send(http, stack, {"to": PHONE, "text": "Counted"}) for _ in range(bench.latency_messages)}
    wait_delivered(ddb, stack.resources.tables["MessagesTable"].name, ids, 60)
    time.sleep(0.5)  # the delivery report's own writes end after the status is stored
    rows = []
    total = 0
    for spec in stack.template.functions():
        calls = [
            c for c in read_aws_calls(calls_dir / f"{spec.name}.jsonl") if c["action"] != "sqs:ReceiveMessage"
        ]
        total += len(calls)
        actions: dict[str, float] = {}
        for call in calls:
            actions[call["action"]] = actions.get(call["action"], 0) + 1 / len(ids)
        rows.append(
            Row("AWS calls per delivered SMS", spec.logical_id, len(calls) / len(ids), "calls", extra=actions)
        )
    rows.append(
        Row(
            "AWS calls per delivered SMS",
            "all functions",
            total / len(ids),
            "calls",
            3,
            "the lean handler's, warm: tenant, put, update",
            note="without the poller's SQS ReceiveMessage (the event source mapping's, not per message)",
        )
    )
    return rows


def rate_and_cost(bench: Bench) -> list[Row]:
    """The Sinch rate used and the share of 429s: a stack of its own whose SinchRatePerSecond is
    the simulator's limit, set below what the local stack can push (measured first, on a stack
    with no rate), while 16 clients push as fast as they can; then what a million such messages
    cost at list prices, from the AWS calls, invocations, durations and log bytes counted in that
    same run (devstack.cost)."""
    limit, out = 5.0, bench.workdir / "rate.json"
    # A process of its own: moto's backends are per process, and this stack has its own tables.
    command = [sys.executable, "-m", "devstack.bench_rate", "--rate", f"{limit:g}"]
    command += ["--count", str(max(200, 2 * bench.messages)), "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, timeout=1800)  # noqa: S603 - our own module
    figures = json.loads(out.read_text(encoding="utf-8"))
    cost = cost_of(figures)
    writes = sum(figures["dynamodb_writes_per_delivered"].values())
    return [
        Row(
            "rate and 429s",
            "Sinch batches per second",
            figures["achieved_per_s"],
            "/s",
            limit,
            "the plan's limit (simulator)",
            {
                "429 share": figures["sinch_429_share"],
                "lost": figures["lost"],
                "doubled": figures["doubled"],
                "stack without a rate /s": figures["capacity_per_s"] or 0.0,
            },
        ),
        Row(
            "writes",
            "DynamoDB writes per delivered SMS",
            writes,
            "",
            3.0,
            "the goal",
            {k: float(v) for k, v in figures["dynamodb_writes_per_delivered"].items()},
        ),
        Row(
            "cost",
            "USD per 1M delivered SMS",
            cost["total_usd_per_million"],
            "USD",
            cost["usd_per_million"]["api_gateway"],
            "API Gateway alone (the floor of any REST design)",
            {k: float(v) for k, v in cost["usd_per_million"].items()},
        ),
    ]


def webhooks_under_junk(bench: Bench) -> list[Row]:
    """Sinch's delivery reports while 30 clients on one address flood the route with junk for
    10 s, beside the same reports with no junk (devstack.bench_webhooks, a stack of its own)."""
    out = bench.workdir / "webhooks.json"
    command = [sys.executable, "-m", "devstack.bench_webhooks", "--reports", str(bench.latency_messages)]
    command += ["--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, timeout=900)  # noqa: S603 - our own module
    figures = json.loads(out.read_text(encoding="utf-8"))
    quiet, flood, junk = figures["quiet"], figures["flood"], figures["junk"]["statuses"]
    note = f"{figures['senders']} junk senders on one address, limit {figures['limit_per_minute']} a minute"
    return [
        Row(
            "webhooks under junk",
            "reports answered 200 on their first try",
            100 * flood["first_try_200"] / max(1, flood["sent"]),
            "%",
            100 * quiet["first_try_200"] / max(1, quiet["sent"]),
            "the same with no junk",
            {"retried": flood["retried"], **{f"junk {k}": float(v) for k, v in junk.items()}},
            note,
        ),
        Row(
            "webhooks under junk",
            "report first try p50",
            flood["first_try_ms_p50"],
            "ms",
            quiet["first_try_ms_p50"],
            "the same with no junk",
            {"p95": flood["first_try_ms_p95"], "p95 with no junk": quiet["first_try_ms_p95"]},
            note,
        ),
    ]


def media_budget(bench: Bench) -> list[Row]:
    """What a caller waits for with slow but valid media (devstack.bench_media_budget): 6 and 24
    files of 2.7 s each, beside one such file."""
    from devstack.bench_media_budget import measure

    figures = measure(bench.stack.state(), repeats=max(1, min(3, bench.repeats)))
    one = figures["files_1"]
    return [
        Row(
            "media budget",
            f"POST with {count} slow files (2.7 s each)",
            figures[f"files_{count}"]["median_s"],
            "s",
            one["median_s"],
            "one such file",
            {"max s": figures[f"files_{count}"]["max_s"]},
            note="answered " + "/".join(map(str, figures[f"files_{count}"]["statuses"])),
        )
        for count in (6, 24)
    ]


def callback_fairness(bench: Bench) -> list[Row]:
    """Tenant B's status callback latency while tenant A's receivers hang and answer 500, beside
    B's with A quiet (devstack.bench_callbacks, on a stack of its own: A's callbacks stay pending)."""
    out = bench.workdir / "callbacks.json"
    command = [sys.executable, "-m", "devstack.bench_callbacks", "--messages", str(bench.latency_messages)]
    command += ["--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != AWS_CALLS_ENV}  # its calls are not counted
    subprocess.run(command, cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL, timeout=1800)  # noqa: S603 - our own module
    figures = json.loads(out.read_text(encoding="utf-8"))
    quiet, broken = figures["quiet_ms"], figures["a_broken_ms"]
    pending = figures["a_pending_callbacks"]
    return [
        Row(
            "callback fairness",
            f"B's status change to B's receiver; A's callbacks pending to a receiver that hangs "
            f"({figures['hanging']} SMS) and one answering 500 ({figures['failing']})",
            broken["p50"],
            "ms p50",
            quiet["p50"],
            "B's with A quiet",
            {
                "p95": broken["p95"],
                "baseline_p95": quiet["p95"],
                "A's callbacks pending (least)": float(min(pending["before"], pending["after"])),
                "A's POSTs": float(sum(figures["a_posts"].values())),
                "B complete, in order": float(figures["b_complete_and_in_order"]),
            },
        )
    ]


def bounded_messages(bench: Bench) -> list[Row]:
    """A message Sinch keeps answering 429: its item's size beside a delivered one's, and when it
    ends beside MaxMessageAgeSeconds (devstack.bench_bounded, on a stack of its own)."""
    out = bench.workdir / "bounded.json"
    command = [sys.executable, "-m", "devstack.bench_bounded", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, timeout=900)  # noqa: S603 - our own module
    return [Row(**row) for row in bounded_rows(json.loads(out.read_text(encoding="utf-8")))]


def rate_fairness(bench: Bench) -> list[Row]:
    """Tenant B's share of Sinch's rate while tenant A floods at 10x, beside B alone, on a stack
    of its own (devstack.bench_fairness)."""
    out = bench.workdir / "fairness.json"
    command = [sys.executable, "-m", "devstack.bench_fairness", "--out", str(out)]
    if bench.messages < 100:  # --quick
        command += ["--probes", "2", "--push-seconds", "3"]
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, timeout=1800)  # noqa: S603 - our own module
    f = json.loads(out.read_text(encoding="utf-8"))
    alone, flood = f["b_to_sinch_ms_alone"], f["b_to_sinch_ms_flood"]
    return [
        Row(
            "rate fairness",
            f"B: POST to Sinch while A floods at {f['flood_factor']:g}x",
            flood["p50"],
            "ms p50",
            alone["p50"],
            "B alone",
            {
                "p95": flood["p95"],
                "baseline_p95": alone["p95"],
                "A posted /s": f["a_posted_per_s"],
                # The API answers after the Sinch call: a figure close to this is the machine
                # serving A's POSTs, not B waiting for a turn.
                "API answer p50": f["b_answer_ms_flood"]["p50"],
                "baseline API answer p50": f["b_answer_ms_alone"]["p50"],
            },
        ),
        Row(
            "rate fairness",
            "B's rate at Sinch, pushing, while A floods",
            f["b_rate_flood_per_s"],
            "/s",
            f["b_rate_alone_per_s"],
            "B alone, pushing",
            {"A /s": f["a_rate_flood_per_s"], "plan /s": f["rate_limit_per_s"]},
        ),
        Row(
            "rate fairness",
            "plan's rate used while A floods",
            f["rate_used_flood"],
            "",
            1.0,
            "the plan's rate",
            {"429 share": f["sinch_429_share_flood"]},
        ),
        Row(
            "rate fairness",
            "DynamoDB writes per delivered SMS, A flooding (backlog drained)",
            f["dynamodb_writes_per_delivered_flood"],
            "",
            f["dynamodb_writes_per_delivered_alone"],
            "B alone",
        ),
    ]


def batch_fanout(bench: Bench) -> list[Row]:
    """A 10,000-recipient batch beside the same recipients one POST /v1/messages each, on a stack
    of its own (devstack.bench_batches)."""
    from devstack.bench_batches import (
        rows_of as batch_rows,
    )  # imports the product: not before the cold sections

    out = bench.workdir / "batches.json"
    command = [sys.executable, "-m", "devstack.bench_batches", "--out", str(out)]
    if bench.messages < 100:  # --quick
        command += ["--recipients", "200"]
    done = subprocess.run(  # noqa: S603 - our own module
        command,
        cwd=ROOT,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=3600,
    )
    if not out.exists():
        raise RuntimeError((done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1])
    return [Row(**row) for row in batch_rows(json.loads(out.read_text(encoding="utf-8")))]


# In this order: the cold sections first, while the stack is quiet.
SECTIONS: list[Section] = [
    import_ratio,
    cold_first_response,
    warm_overhead,
    aws_calls_per_message,
    e2e_latency,
    rate_and_cost,
    webhooks_under_junk,
    media_budget,
    callback_fairness,
    bounded_messages,
    rate_fairness,
    batch_fanout,
]


# --- report ---------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| section | figure | value | baseline | ratio | more | baseline is |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        more = ", ".join(f"{k} {fmt(v)}" for k, v in row.extra.items())
        unit = f" {row.unit}" if row.value is not None and row.unit else ""
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        note = f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.section} | {row.name}{note} | {fmt(row.value)}{unit} | {fmt(row.baseline)} | {ratio} "
            f"| {more} | {row.baseline_name} |"
        )
    return lines


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_docs(
    rows: list[Row], args: argparse.Namespace, before: dict[str, Any], after: dict[str, Any]
) -> None:
    counts = {k: getattr(args, k) for k in ("repeats", "requests", "messages", "latency_messages")}
    document = {
        "machine": before,
        "load_average_1m_at_end": after["load_average_1m"],
        "counts": counts,
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
    }
    DOCS.mkdir(exist_ok=True)
    (DOCS / "performance.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (DOCS / "performance.md").write_text(
        "\n".join(
            [
                "# Performance",
                "",
                "Written by `make bench` (devstack/bench.py); do not edit by hand. Every figure sits",
                "beside a baseline measured in the same run, alternately with it: on a shared machine the",
                "ratio is the figure to read. Cold figures are whole processes on a Lambda-like runtime",
                "(the layer as `sam build` makes it, and the boto3 Lambda provides; no bytecode written),",
                "traced as `Tracing: Active` has it.",
                "",
                f"Measured {before['measured_at']} on {before['cpus']} CPUs, Python {before['python']},",
                f"load average {before['load_average_1m']} at the start,"
                f" {after['load_average_1m']} at the end; counts:",
                f"{', '.join(f'{k} {v}' for k, v in counts.items())}.",
                "",
                *table(rows),
                "",
            ]
        ),
        encoding="utf-8",
    )


def run(args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        workdir = Path(work)
        os.environ[AWS_CALLS_ENV] = str(workdir / "aws-calls")  # the stack's workers record their calls
        config = StackConfig.on_free_ports(workdir / "state")
        xray = XRayDaemon(workdir / "cold-traces.jsonl").start()
        rows: list[Row] = []
        try:
            with LocalStack(config, log=lambda line: None) as stack:
                bench = Bench(
                    stack,
                    args.repeats,
                    args.requests,
                    args.messages,
                    args.latency_messages,
                    xray.address,
                    workdir,
                )
                for section in SECTIONS:
                    try:
                        rows.extend(section(bench))
                    except Exception as exc:
                        note = (
                            f"failed: {type(exc).__name__}: {exc}"[:300].replace("|", "/").replace("\n", " ")
                        )
                        rows.append(Row(section.__name__, "(no figure)", None, "", note=note))
        finally:
            xray.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="cold starts per figure")
    parser.add_argument("--requests", type=int, default=200, help="warm requests per route")
    parser.add_argument(
        "--messages", type=int, default=300, help="messages through the shared-rate benchmark (at least 100)"
    )
    parser.add_argument("--latency-messages", type=int, default=20, help="messages per end-to-end figure")
    parser.add_argument("--quick", action="store_true", help="tiny counts, docs left alone (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.requests, args.messages, args.latency_messages = 1, 3, 10, 2
    before = machine()
    rows = run(args)
    if not args.quick:
        write_docs(rows, args, before, machine())
    # Printed once the functions' own output has stopped.
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
