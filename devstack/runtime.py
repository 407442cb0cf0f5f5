"""A Lambda-like runtime: each function runs in its own worker processes, never in the caller's.

One job: invoke a function's handler with an event and return what Lambda would (the result, or
an error with type, message and trace), with Lambda's environment, context object, cold starts
(workers start lazily, one per concurrent invocation, up to a pool size) and timeout (the worker
is killed and the invocation fails with ``Task timed out after N seconds``).

Workers are ``multiprocessing`` *spawn* processes running ``devstack.worker``: a fresh interpreter
that imports the handler module once (the cold start, whose duration is recorded), then serves
invocations over a pipe.

With an X-Ray daemon (``devstack.xray_daemon``) each invocation gets Lambda's trace header
(sampled for functions with ``Tracing: Active``) and Lambda's function segment; with a log
directory each function's output (and its REPORT lines) also goes to ``<dir>/<LogicalId>.log``.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from devstack.console import print_line
from devstack.worker import WorkerConfig, worker_main

if TYPE_CHECKING:
    from devstack.template import FunctionSpec
    from devstack.xray_daemon import XRayDaemon

# Lambda's limit for a synchronous invocation's request and response payloads.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
DEFAULT_POOL_SIZE = 4
# Lambda allows 10 s of init (a spawned interpreter needs a little more). Past that it does not
# fail: it runs init again inside the first invoke, under the function's timeout ("suppressed
# init"). So a slow init on a busy machine is a slow first answer, and an error only past both.
DEFAULT_INIT_TIMEOUT = 15.0

# Environment variables Lambda reserves (and that a developer's shell must not leak into a worker).
_DROPPED_ENV_PREFIXES = ("AWS_", "_X_AMZN_", "LAMBDA_")


# --- what the caller gets -----------------------------------------------------------------------


@dataclass
class Invocation:
    """The outcome of one invocation."""

    function: str  # physical function name
    request_id: str
    ok: bool
    payload: Any = None  # the handler's result (decoded JSON) when ok
    error: dict[str, Any] | None = None  # {"errorType", "errorMessage", "stackTrace"} otherwise
    duration_ms: float = 0.0
    cold_start: bool = False
    init_duration_ms: float | None = None
    timed_out: bool = False
    max_memory_used_mb: int | None = None


class Invoker(Protocol):
    """Anything that invokes a function by name (the runtime, or a test double)."""

    def invoke(self, function: str, event: Any) -> Invocation: ...


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    cold_starts: int = 0
    init_durations_ms: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "coldStarts": self.cold_starts,
            "initDurationsMs": [round(d, 1) for d in self.init_durations_ms[-50:]],
        }


# --- the environment a function sees ------------------------------------------------------------


def function_environment(
    spec: FunctionSpec,
    *,
    aws_endpoint_url: str,
    region: str,
    base: Mapping[str, str] | None = None,
    log_stream_name: str | None = None,
    xray_daemon_address: str | None = None,
    credentials: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The process environment of a worker: the shell's (minus AWS settings), the template's
    variables, then what Lambda itself sets (it wins, as reserved variables do on Lambda), its
    role's session `credentials` among them when the stack made one."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update(spec.environment)
    env.update(
        {
            "AWS_ENDPOINT_URL": aws_endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name or new_log_stream_name(),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
        }
    )
    env.update(credentials or {})
    if xray_daemon_address is None:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"  # nothing would receive the segments
    else:
        host, _, port = xray_daemon_address.rpartition(":")
        env.update(
            {
                "AWS_XRAY_DAEMON_ADDRESS": xray_daemon_address,
                "_AWS_XRAY_DAEMON_ADDRESS": host,
                "_AWS_XRAY_DAEMON_PORT": port,
            }
        )
    return env


def new_log_stream_name() -> str:
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


@dataclass(frozen=True)
class TraceContext:
    """What Lambda puts in ``_X_AMZN_TRACE_ID`` for one invocation."""

    root: str
    parent: str  # the id of the function segment
    sampled: bool

    @classmethod
    def new(cls, sampled: bool) -> TraceContext:
        return cls(f"1-{int(time.time()):08x}-{secrets.token_hex(12)}", secrets.token_hex(8), sampled)

    def header(self) -> str:
        return f"Root={self.root};Parent={self.parent};Sampled={int(self.sampled)}"


def function_segment(
    spec: FunctionSpec, trace: TraceContext, result: Invocation, started: float
) -> dict[str, Any]:
    """The ``AWS::Lambda::Function`` segment Lambda sends for an invocation. A function error is
    recorded as Lambda's runtime reports it to X-Ray: its type and message."""
    segment: dict[str, Any] = {
        "name": spec.name,
        "id": trace.parent,
        "trace_id": trace.root,
        "start_time": started,
        "end_time": started + result.duration_ms / 1000,
        "origin": "AWS::Lambda::Function",
        "aws": {"function_arn": spec.arn, "request_id": result.request_id, "cold_start": result.cold_start},
    }
    if result.error is not None:
        segment["fault"] = True
        segment["cause"] = {
            "working_directory": str(spec.code_dir),
            "exceptions": [
                {"type": result.error.get("errorType"), "message": result.error.get("errorMessage")}
            ],
        }
    return segment


# --- in the stack's process ---------------------------------------------------------------------


class _WorkerFailedToStart(Exception):
    def __init__(self, payload: dict[str, Any], init_ms: float) -> None:
        super().__init__(payload.get("errorMessage", "init failed"))
        self.payload = payload
        self.init_ms = init_ms


class _Worker:
    """One worker process, seen from the stack (used by one invocation at a time)."""

    def __init__(self, context: Any, config: WorkerConfig) -> None:
        parent_end, child_end = context.Pipe(duplex=True)
        self.process = context.Process(
            target=worker_main,
            args=(child_end, config),
            name=f"lambda:{config.function_name}",
            daemon=True,
        )
        self.spawned_at = time.perf_counter()
        self.process.start()
        child_end.close()
        self.conn: Connection = parent_end
        self.alive = True

    def wait_ready(self, timeout: float) -> float:
        """Wait for the handler import; return the init duration (ms) measured by the worker."""
        if not self.conn.poll(timeout):
            self.kill()
            elapsed = (time.perf_counter() - self.spawned_at) * 1000
            payload = {
                "errorType": "Runtime.InitTimeout",
                "errorMessage": f"Init phase did not finish within {timeout:.2f} seconds",
                "stackTrace": [],
            }
            raise _WorkerFailedToStart(payload, elapsed)
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise _WorkerFailedToStart(self._exit_error(), 0.0) from None
        if kind != "ready":
            self.kill()
            raise _WorkerFailedToStart(value, (time.perf_counter() - self.spawned_at) * 1000)
        return float(value)

    def _exit_error(self, request_id: str | None = None) -> dict[str, Any]:
        self.process.join(1)
        code = self.process.exitcode
        status = f"signal: {-code}" if code is not None and code < 0 else f"exit status {code}"
        prefix = f"RequestId: {request_id} Error: " if request_id else ""
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"{prefix}Runtime exited with error: {status}",
            "stackTrace": [],
        }

    def kill(self) -> None:
        self.alive = False
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()

    def stop(self) -> None:
        if self.alive:
            with contextlib.suppress(Exception):
                self.conn.send(None)
            self.process.join(2)
        self.kill()


class FunctionPool:
    """The workers of one function: reused when idle, spawned on demand up to ``size``."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        aws_endpoint_url: str,
        region: str,
        size: int = DEFAULT_POOL_SIZE,
        init_timeout: float = DEFAULT_INIT_TIMEOUT,
        log_prefix: bool = True,
        report: bool = False,
        base_environment: Mapping[str, str] | None = None,
        on_cold_start: Callable[[str, float], None] | None = None,
        log: Callable[[str], None] | None = None,
        xray: XRayDaemon | None = None,
        log_file: Path | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.spec = spec
        self.size = size
        self.stats = FunctionStats()
        self._aws_endpoint_url = aws_endpoint_url
        self._region = region
        self._init_timeout = init_timeout
        self._log_prefix = f"[{spec.logical_id}] " if log_prefix else None
        self._report = report
        self._base_environment = base_environment
        self._on_cold_start = on_cold_start
        self._log = log or print_line
        self._xray = xray
        self._log_file = log_file
        self._credentials = credentials
        self._log_fd: int | None = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()

    def _config(self) -> WorkerConfig:
        env = function_environment(
            self.spec,
            aws_endpoint_url=self._aws_endpoint_url,
            region=self._region,
            base=self._base_environment,
            xray_daemon_address=self._xray.address if self._xray is not None else None,
            credentials=self._credentials,
        )
        return WorkerConfig(
            function_name=self.spec.name,
            handler=self.spec.handler,
            code_dir=str(self.spec.code_dir),
            layer_dirs=tuple(str(d) for d in self.spec.layer_dirs),
            environment=env,
            invoked_function_arn=self.spec.arn,
            log_prefix=self._log_prefix,
            log_file=str(self._log_file) if self._log_file is not None else None,
        )

    def _acquire(self) -> _Worker | None:
        """An idle worker, or None when the caller may (and must) start a new one."""
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("runtime closed")
                if self._idle:
                    return self._idle.pop()
                if self._count < self.size:
                    self._count += 1
                    return None
                self._cond.wait()

    def _release(self, worker: _Worker | None) -> None:
        with self._cond:
            if worker is not None and worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                if worker is not None:
                    self._all.discard(worker)
            self._cond.notify()
        if worker is not None and (self._closed or not worker.alive):
            worker.kill()

    def invoke(self, event: Any) -> Invocation:
        request_id = str(uuid.uuid4())
        result = Invocation(function=self.spec.name, request_id=request_id, ok=False)
        event_json = json.dumps(event)
        if len(event_json.encode()) > MAX_PAYLOAD_BYTES:
            return self._finish(
                result,
                _error(
                    "RequestEntityTooLargeException",
                    "Request must be smaller than "
                    f"{MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
                ),
            )
        try:
            worker = self._acquire()
        except RuntimeError:
            return self._finish(result, _error("ServiceException", "the local runtime is shutting down"))
        if worker is None:
            try:
                worker = self._start_worker(result)
            except _WorkerFailedToStart as exc:
                self._release(None)
                return self._finish(result, exc.payload)
            except Exception as exc:  # the process could not even be spawned
                self._release(None)
                return self._finish(result, _error("ServiceException", f"could not start a worker: {exc}"))
        trace = TraceContext.new(sampled=self.spec.tracing) if self._xray is not None else None
        started = time.time()
        try:
            self._run(worker, result, event_json, trace)
        finally:
            self._release(worker)
        if trace is not None and trace.sampled and self._xray is not None:
            self._xray.record(function_segment(self.spec, trace, result, started))
        return result

    def _start_worker(self, result: Invocation) -> _Worker:
        result.cold_start = True
        worker = _Worker(self._context, self._config())
        with self._cond:
            self._all.add(worker)
            if self._closed:
                worker.kill()
                raise _WorkerFailedToStart(
                    _error("ServiceException", "the local runtime is shutting down"), 0.0
                )
        try:
            init_ms = worker.wait_ready(self._init_timeout + float(self.spec.timeout))
        except _WorkerFailedToStart as exc:
            result.init_duration_ms = exc.init_ms
            with self._cond:
                self._all.discard(worker)
            raise
        result.init_duration_ms = init_ms
        with self._cond:
            self.stats.cold_starts += 1
            self.stats.init_durations_ms.append(init_ms)
        if self._on_cold_start is not None:
            self._on_cold_start(self.spec.logical_id, init_ms)
        return worker

    def _run(
        self, worker: _Worker, result: Invocation, event_json: str, trace: TraceContext | None
    ) -> Invocation:
        timeout = float(self.spec.timeout)
        started = time.perf_counter()
        deadline_ms = int(time.time() * 1000 + timeout * 1000)
        header = trace.header() if trace is not None else None
        try:
            worker.conn.send((result.request_id, event_json, deadline_ms, header))
            ready = worker.conn.poll(timeout)
        except (OSError, EOFError):
            ready = True  # the worker is gone: recv reports it
        if not ready:
            worker.kill()
            result.duration_ms = (time.perf_counter() - started) * 1000
            result.timed_out = True
            message = f"RequestId: {result.request_id} Error: Task timed out after {timeout:.2f} seconds"
            self._platform_log(f"{_now_iso()} {result.request_id} Task timed out after {timeout:.2f} seconds")
            return self._finish(result, _error("Sandbox.Timedout", message))
        try:
            reply = worker.conn.recv()
        except (EOFError, OSError):
            error = worker._exit_error(result.request_id)
            worker.kill()
            result.duration_ms = (time.perf_counter() - started) * 1000
            return self._finish(result, error)
        result.duration_ms = (time.perf_counter() - started) * 1000
        kind, value, result.max_memory_used_mb = reply
        if kind == "result":
            if len(value.encode()) > MAX_PAYLOAD_BYTES:
                return self._finish(
                    result,
                    _error(
                        "Function.ResponseSizeTooLarge",
                        "Response payload size exceeded maximum allowed payload size "
                        f"({MAX_PAYLOAD_BYTES} bytes).",
                    ),
                )
            result.ok = True
            result.payload = json.loads(value)
            return self._finish(result, None)
        return self._finish(result, value)

    def _finish(self, result: Invocation, error: dict[str, Any] | None) -> Invocation:
        result.error = error
        result.ok = error is None
        with self._cond:
            self.stats.invocations += 1
            if error is not None:
                self.stats.errors += 1
            if result.timed_out:
                self.stats.timeouts += 1
        self._platform_log(_report_line(self.spec.memory_size, result), echo=self._report)
        return result

    def _platform_log(self, line: str, echo: bool = True) -> None:
        """A line Lambda itself writes to the function's log (REPORT, timeouts)."""
        if echo:
            self._log(f"{self._log_prefix or ''}{line}")
        if self._log_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self._log_fd, f"{line}\n".encode())

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, busy = list(self._idle), [w for w in self._all if w not in self._idle]
            self._idle.clear()
            self._cond.notify_all()
        for worker in busy:  # its invocation fails, as when Lambda's sandbox goes away
            worker.kill()
        for worker in idle:
            worker.stop()
        if self._log_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._log_fd)
            self._log_fd = None

    @property
    def worker_count(self) -> int:
        with self._cond:
            return self._count


class LambdaRuntime:
    """The functions of a stack, each with its pool of workers."""

    def __init__(
        self,
        functions: Iterable[FunctionSpec],
        *,
        aws_endpoint_url: str,
        region: str,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_sizes: Mapping[str, int] | None = None,
        init_timeout: float = DEFAULT_INIT_TIMEOUT,
        log_prefix: bool = True,
        report: bool = False,
        base_environment: Mapping[str, str] | None = None,
        on_cold_start: Callable[[str, float], None] | None = None,
        log: Callable[[str], None] | None = None,
        xray: XRayDaemon | None = None,
        log_dir: Path | None = None,
        credentials: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """`credentials`: each function's role session (its AWS_* variables), by logical id."""
        pool_sizes = pool_sizes or {}
        credentials = credentials or {}
        self._pools: dict[str, FunctionPool] = {}
        self._aliases: dict[str, str] = {}
        for spec in functions:
            self._pools[spec.logical_id] = FunctionPool(
                spec,
                aws_endpoint_url=aws_endpoint_url,
                region=region,
                size=pool_sizes.get(spec.logical_id, pool_size),
                init_timeout=init_timeout,
                log_prefix=log_prefix,
                report=report,
                base_environment=base_environment,
                on_cold_start=on_cold_start,
                log=log,
                xray=xray,
                log_file=log_dir / f"{spec.logical_id}.log" if log_dir is not None else None,
                credentials=credentials.get(spec.logical_id),
            )
            self._aliases[spec.name] = spec.logical_id
            self._aliases[spec.arn] = spec.logical_id

    def pool(self, function: str) -> FunctionPool:
        """The pool of a function, by logical id, physical name or ARN."""
        logical_id = self._aliases.get(function, function)
        try:
            return self._pools[logical_id]
        except KeyError:
            raise KeyError(f"no function {function!r} in this runtime") from None

    def invoke(self, function: str, event: Any) -> Invocation:
        return self.pool(function).invoke(event)

    def functions(self) -> list[FunctionSpec]:
        return [pool.spec for pool in self._pools.values()]

    def stats(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: {"name": pool.spec.name, "workers": pool.worker_count, **pool.stats.as_json()}
            for logical_id, pool in self._pools.items()
        }

    def close(self) -> None:
        pools = list(self._pools.values())
        threads = [threading.Thread(target=pool.close, daemon=True) for pool in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

    def __enter__(self) -> LambdaRuntime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": []}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _report_line(memory_size: int, result: Invocation) -> str:
    line = (
        f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, int(result.duration_ms + 0.999))} ms\tMemory Size: {memory_size} MB"
    )
    if result.max_memory_used_mb is not None:
        line += f"\tMax Memory Used: {result.max_memory_used_mb} MB"
    if result.cold_start and result.init_duration_ms is not None:
        line += f"\tInit Duration: {result.init_duration_ms:.2f} ms"
    if result.timed_out:
        line += "\tStatus: timeout"
    elif result.error is not None:
        line += f"\tStatus: error\tError Type: {result.error.get('errorType')}"
    return line
