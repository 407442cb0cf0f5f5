"""devstack.runtime with throwaway handlers: worker processes, context, errors, timeouts."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.runtime import LambdaRuntime, function_environment
from devstack.template import FunctionSpec
from devstack.xray_daemon import XRayDaemon

HANDLER = """
import json, os, sys, time
import helper  # from the layer

LOADED_AT = time.time()

def lambda_handler(event, context):
    action = event.get("action")
    if action == "raise":
        raise ValueError("bad input")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "rendezvous":  # meet another invocation running at the same time, or give up
        open(os.path.join(event["dir"], event["me"]), "w").close()
        deadline = time.monotonic() + 20
        while not os.path.exists(os.path.join(event["dir"], event["peer"])):
            if time.monotonic() > deadline:
                return {"met": False}
            time.sleep(0.01)
        return {"met": True, "pid": os.getpid()}
    if action == "print":
        print(json.dumps({"level": "INFO", "message": "hello"}))
    if action == "unserialisable":
        return {"x": object()}
    if action == "exit":
        os._exit(3)
    return {
        "pid": os.getpid(),
        "loaded_at": LOADED_AT,
        "event": event,
        "helper": helper.VALUE,
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "env": {k: os.environ.get(k) for k in event.get("env", [])},
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }
"""


def make_spec(tmp_path: Path, *, name: str = "Fn", timeout: int = 3, code: str = HANDLER) -> FunctionSpec:
    code_dir = tmp_path / name / "code"
    layer_dir = tmp_path / name / "layer"
    code_dir.mkdir(parents=True)
    layer_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(textwrap.dedent(code))
    (layer_dir / "helper.py").write_text("VALUE = 'from the layer'\n")
    return FunctionSpec(
        logical_id=name,
        name=f"stack-{name}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:stack-{name}",
        code_dir=code_dir,
        handler="app.lambda_handler",
        runtime="python3.11",
        timeout=timeout,
        memory_size=256,
        environment={"TABLE": "my-table", "AWS_REGION": "eu-west-1"},
        layer_dirs=(layer_dir,),
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LambdaRuntime]:
    rt = LambdaRuntime(
        [make_spec(tmp_path), make_spec(tmp_path, name="Slow", timeout=1)],
        aws_endpoint_url="http://127.0.0.1:4566",
        region="us-east-1",
        pool_size=2,
        log_prefix=True,
        report=True,
        log=lambda line: None,
    )
    yield rt
    rt.close()


def test_invoke_runs_in_a_worker_with_lambda_context_and_environment(runtime: LambdaRuntime) -> None:
    env_names = [
        "TABLE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "_HANDLER",
        "POWERTOOLS_TRACE_DISABLED",
    ]
    result = runtime.invoke("Fn", {"hello": "world", "env": env_names})
    assert result.ok, result.error
    assert result.cold_start is True and result.init_duration_ms is not None
    payload = result.payload
    assert payload["pid"] != os.getpid()
    assert payload["event"]["hello"] == "world"
    assert payload["helper"] == "from the layer"
    assert payload["path0"].endswith("/Fn/code")
    assert payload["cwd"].endswith("/Fn/code")
    assert payload["env"] == {
        "TABLE": "my-table",
        "AWS_REGION": "us-east-1",  # Lambda's reserved variables win over the template's
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "stack-Fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "_HANDLER": "app.lambda_handler",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    context = payload["context"]
    assert context["function_name"] == "stack-Fn"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:stack-Fn"
    assert context["memory_limit_in_mb"] == "256"
    assert context["aws_request_id"] == result.request_id
    assert context["log_group_name"] == "/aws/lambda/stack-Fn"
    assert "[$LATEST]" in context["log_stream_name"]
    assert 0 < context["remaining"] <= 3000

    again = runtime.invoke("stack-Fn", {})  # by physical name; the warm worker is reused
    assert again.ok and again.cold_start is False
    assert again.payload["pid"] == payload["pid"]
    assert again.payload["loaded_at"] == payload["loaded_at"]  # the module was imported once
    stats = runtime.stats()["Fn"]
    assert stats["coldStarts"] == 1 and stats["invocations"] == 2


def test_concurrent_invocations_run_in_parallel_workers(tmp_path: Path) -> None:
    results = []
    spec = make_spec(tmp_path, name="Meet", timeout=30)
    runtime = LambdaRuntime([spec], aws_endpoint_url="http://x", region="us-east-1", log=lambda line: None)

    def call(me: str, peer: str) -> None:
        event = {"action": "rendezvous", "dir": str(tmp_path), "me": me, "peer": peer}
        results.append(runtime.invoke("Meet", event))

    # Each invocation waits for the other: run one after the other, neither would meet its peer.
    threads = [threading.Thread(target=call, args=pair) for pair in (("a", "b"), ("b", "a"))]
    with runtime:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(r.ok and r.payload["met"] for r in results)
    assert len({r.payload["pid"] for r in results}) == 2
    assert all(r.cold_start for r in results)


def test_handler_error(runtime: LambdaRuntime) -> None:
    result = runtime.invoke("Fn", {"action": "raise"})
    assert not result.ok
    assert result.error is not None
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "bad input"
    assert any("lambda_handler" in line for line in result.error["stackTrace"])
    assert runtime.invoke("Fn", {}).ok  # the worker survives a handler error


def test_unserialisable_result_is_a_marshal_error(runtime: LambdaRuntime) -> None:
    result = runtime.invoke("Fn", {"action": "unserialisable"})
    assert not result.ok and result.error is not None
    assert result.error["errorType"] == "Runtime.MarshalError"


def test_worker_exit_is_reported_and_replaced(runtime: LambdaRuntime) -> None:
    result = runtime.invoke("Fn", {"action": "exit"})
    assert not result.ok and result.error is not None
    assert result.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in result.error["errorMessage"]
    next_result = runtime.invoke("Fn", {})
    assert next_result.ok and next_result.cold_start


def test_timeout_kills_the_worker(runtime: LambdaRuntime) -> None:
    first = runtime.invoke("Slow", {})
    assert first.ok
    started = time.perf_counter()
    result = runtime.invoke("Slow", {"action": "sleep", "seconds": 30})
    assert time.perf_counter() - started < 5
    assert not result.ok and result.timed_out
    assert result.error is not None
    assert result.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.error["errorMessage"]
    with pytest.raises(ProcessLookupError):
        os.kill(first.payload["pid"], 0)  # the worker is gone
    after = runtime.invoke("Slow", {})
    assert after.ok and after.cold_start and after.payload["pid"] != first.payload["pid"]
    assert runtime.stats()["Slow"]["timeouts"] == 1


def test_an_init_past_the_init_limit_runs_on_within_the_function_timeout(tmp_path: Path) -> None:
    slow_init = "import time\ntime.sleep(1.5)\ndef lambda_handler(event, context):\n    return 'ok'\n"
    stuck_init = "import time\ntime.sleep(60)\ndef lambda_handler(event, context):\n    return 'ok'\n"
    specs = [
        make_spec(tmp_path, name="SlowInit", timeout=5, code=slow_init),
        make_spec(tmp_path, name="StuckInit", timeout=1, code=stuck_init),
    ]
    with LambdaRuntime(
        specs, aws_endpoint_url="http://x", region="us-east-1", init_timeout=0.5, log=lambda line: None
    ) as runtime:
        # Like Lambda's suppressed init: a slow first answer, not an error.
        result = runtime.invoke("SlowInit", {})
        assert result.ok and result.payload == "ok"
        started = time.perf_counter()
        result = runtime.invoke("StuckInit", {})
        assert time.perf_counter() - started < 10
        assert not result.ok and result.error is not None
        assert result.error["errorType"] == "Runtime.InitTimeout"


def test_import_errors_are_init_errors(tmp_path: Path) -> None:
    broken = make_spec(tmp_path, name="Broken", code="import no_such_module_here\n")
    missing = make_spec(tmp_path, name="Missing", code="def other(event, context):\n    return 1\n")
    with LambdaRuntime(
        [broken, missing], aws_endpoint_url="http://x", region="us-east-1", log=lambda line: None
    ) as runtime:
        result = runtime.invoke("Broken", {})
        assert not result.ok and result.error is not None
        assert result.error["errorType"] == "Runtime.ImportModuleError"
        assert "no_such_module_here" in result.error["errorMessage"]
        result = runtime.invoke("Missing", {})
        assert result.error is not None
        assert result.error["errorType"] == "Runtime.HandlerNotFound"
        assert runtime.pool("Broken").worker_count == 0


def test_function_environment_drops_the_shells_aws_settings(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    env = function_environment(
        spec,
        aws_endpoint_url="http://e",
        region="us-east-1",
        base={"PATH": "/bin", "AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "real", "HOME": "/h"},
    )
    assert env["PATH"] == "/bin" and env["HOME"] == "/h"
    assert "AWS_PROFILE" not in env
    assert env["AWS_SESSION_TOKEN"] == "testing"
    assert env["TABLE"] == "my-table"


def test_function_output_goes_to_the_stacks_stdout_with_a_prefix(
    runtime: LambdaRuntime, capfd: pytest.CaptureFixture[str]
) -> None:
    assert runtime.invoke("Fn", {"action": "print"}).ok
    assert runtime.invoke("Fn", {"action": "raise"}).error is not None
    out = capfd.readouterr().out
    assert '[Fn] {"level": "INFO", "message": "hello"}' in out
    assert "[Fn] [ERROR] ValueError: bad input" in out


TRACED_HANDLER = """
import os
from aws_xray_sdk.core import xray_recorder

def lambda_handler(event, context):
    print("working on it")
    with xray_recorder.in_subsegment("## work"):
        if event.get("action") == "raise":
            raise ValueError("bad input")
    return os.environ.get("_X_AMZN_TRACE_ID")
"""


def _documents(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_with_a_daemon_each_invocation_is_traced_as_on_lambda_and_logged_to_its_file(tmp_path: Path) -> None:
    traced = dataclasses.replace(make_spec(tmp_path, name="Traced", code=TRACED_HANDLER), tracing=True)
    untraced = make_spec(tmp_path, name="Untraced", code=TRACED_HANDLER)
    daemon = XRayDaemon(tmp_path / "traces.jsonl").start()
    runtime = LambdaRuntime(
        [traced, untraced],
        aws_endpoint_url="http://127.0.0.1:4566",
        region="us-east-1",
        pool_size=1,
        log=lambda line: None,
        xray=daemon,
        log_dir=tmp_path / "logs",
    )
    try:
        first, second = runtime.invoke("Traced", {}), runtime.invoke("Traced", {})
        failed = runtime.invoke("Traced", {"action": "raise"})
        unsampled = runtime.invoke("Untraced", {})
        documents = _documents(daemon.path)
        # The SDK's subsegments arrive over UDP: wait for the last one (the failed invocation's).
        deadline = time.monotonic() + 10
        while len([d for d in documents if d["name"] == "## work"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
            documents = _documents(daemon.path)
    finally:
        runtime.close()
        daemon.stop()

    headers = [first.payload, second.payload]
    for header in headers:
        assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1", header), header
    assert headers[0] != headers[1]
    assert unsampled.payload.endswith(";Sampled=0")
    functions = [d for d in documents if d.get("origin") == "AWS::Lambda::Function"]
    assert [(d["name"], d["aws"]["request_id"]) for d in functions] == [
        ("stack-Traced", r.request_id) for r in (first, second, failed)
    ]
    assert functions[2]["fault"] and functions[2]["cause"]["exceptions"] == [
        {"type": "ValueError", "message": "bad input"}
    ]
    work = [d for d in documents if d["name"] == "## work"]
    assert [(d["trace_id"], d["parent_id"]) for d in work] == [(f["trace_id"], f["id"]) for f in functions]

    log = (tmp_path / "logs" / "Traced.log").read_text().splitlines()
    assert log.count("working on it") == 3  # unprefixed: the file is the function's own
    assert "[ERROR] ValueError: bad input" in log
    assert [line.split("\t")[0] for line in log if line.startswith("REPORT")] == [
        f"REPORT RequestId: {r.request_id}" for r in (first, second, failed)
    ]
    assert "working on it" in (tmp_path / "logs" / "Untraced.log").read_text()


def test_function_environment_points_the_sdk_at_the_daemon(tmp_path: Path) -> None:
    env = function_environment(
        make_spec(tmp_path),
        aws_endpoint_url="http://e",
        region="us-east-1",
        base={"PATH": "/bin"},
        xray_daemon_address="127.0.0.1:2999",
    )
    assert env["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2999"
    assert (env["_AWS_XRAY_DAEMON_ADDRESS"], env["_AWS_XRAY_DAEMON_PORT"]) == ("127.0.0.1", "2999")
    assert "POWERTOOLS_TRACE_DISABLED" not in env
