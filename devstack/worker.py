"""Inside a worker process: Lambda's Python runtime for one function.

One job: in a freshly spawned interpreter, take the function's environment and paths, import its
handler once (the cold start), then answer invocations from the stack over a pipe: event JSON in,
result JSON out, or an error with type, message and trace as Lambda reports it. Only the standard
library is imported here, so a cold start costs what the function's own imports cost.
"""

from __future__ import annotations

import contextlib
import decimal
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TextIO


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs; sent to it when it is spawned."""

    function_name: str
    handler: str
    code_dir: str
    layer_dirs: tuple[str, ...]
    environment: dict[str, str]
    invoked_function_arn: str
    log_prefix: str | None = None
    log_file: str | None = None  # the function's own log, besides the stack's stdout


# --- the handler's view ------------------------------------------------------------------


class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler."""

    def __init__(self, aws_request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = aws_request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as on Lambda (the runtime reads it from the environment).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name},"
            f"function_version={self.function_version},invoked_function_arn={self.invoked_function_arn}])"
        )


class _LogWriter(io.TextIOBase):
    """A text stream that writes whole lines to ``target``, each starting with ``prefix``, and
    to the function's log file (unprefixed: the file is the function's alone)."""

    def __init__(self, target: TextIO, prefix: str, log_fd: int | None = None) -> None:
        super().__init__()
        self._target = target
        self._prefix = prefix
        self._log_fd = log_fd
        self._pending = ""
        self._lock = threading.Lock()

    def _emit(self, lines: list[str]) -> None:
        self._target.write("".join(f"{self._prefix}{line}\n" for line in lines))
        self._target.flush()
        if self._log_fd is not None:
            # One write per line on an O_APPEND descriptor: other workers' lines never split it.
            for line in lines:
                os.write(self._log_fd, f"{line}\n".encode())

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self._lock:
            lines = (self._pending + s).split("\n")
            self._pending = lines.pop()
            if lines:
                self._emit(lines)
        return len(s)

    def flush(self) -> None:
        with self._lock:
            self._target.flush()

    def close(self) -> None:
        with self._lock:
            if self._pending:
                self._emit([self._pending])
                self._pending = ""
            self._target.flush()

    def fileno(self) -> int:
        return self._target.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._target.encoding


class _InitError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.payload = {"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}


def _load_handler(handler: str) -> Callable[[Any, LambdaContext], Any]:
    """Import the handler as Lambda's Python runtime does, with its error types."""
    import importlib

    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from exc
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        raise _InitError("Runtime.ImportModuleError", message) from exc
    except SyntaxError as exc:
        stack = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise _InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", stack
        ) from exc
    try:
        function: Callable[[Any, LambdaContext], Any] = getattr(module, function_name)
    except AttributeError as exc:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise _InitError("Runtime.HandlerNotFound", message) from exc
    return function


def _error_payload(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


def _log_error(payload: dict[str, Any]) -> None:
    trace = "".join(payload.get("stackTrace") or [])
    sys.stdout.write(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}\n")
    if trace:
        sys.stdout.write(f"Traceback (most recent call last):\n{trace}")
    sys.stdout.flush()


def _decimal_default(value: Any) -> Any:
    # Lambda's Python runtime serialises Decimal (what DynamoDB returns) as a number.
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _max_rss_mb() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _setup_process(config: WorkerConfig) -> None:
    # Ctrl-C reaches the whole process group: the stack shuts the workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(config.environment)
    time.tzset()
    # Like Lambda, one log stream: the function's stdout and stderr both go to the stack's stdout.
    if config.log_prefix or config.log_file:
        log_fd = None
        if config.log_file:
            log_fd = os.open(config.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        sys.stdout = _LogWriter(sys.__stdout__ or sys.stdout, config.log_prefix or "", log_fd)
    elif isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    sys.stderr = sys.stdout
    # /var/task first, then the layers (/opt/python), then the runtime's own paths.
    sys.path[:0] = [config.code_dir, *config.layer_dirs]
    with contextlib.suppress(OSError):
        os.chdir(config.code_dir)


def worker_main(conn: Connection, config: WorkerConfig) -> None:
    """Entry point of a worker process."""
    _setup_process(config)
    if os.environ.get("DEVSTACK_AWS_CALLS_DIR"):  # the e2e suite holds each role against these
        from devstack.aws_calls import install_from_environment

        install_from_environment(config.function_name)
    started = time.perf_counter()
    try:
        handler = _load_handler(config.handler)
    except _InitError as exc:
        _log_error(exc.payload)
        conn.send(("init_error", exc.payload))
        return
    except Exception as exc:
        payload = _error_payload(exc)
        _log_error(payload)
        conn.send(("init_error", payload))
        return
    conn.send(("ready", (time.perf_counter() - started) * 1000))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the stack went away
        if message is None:
            return
        request_id, event_json, deadline_ms, trace_header = message
        # Set per invocation, as Lambda's runtime does: the X-Ray SDK reads it for each subsegment.
        if trace_header is None:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        else:
            os.environ["_X_AMZN_TRACE_ID"] = trace_header
        context = LambdaContext(request_id, config.invoked_function_arn, deadline_ms)
        try:
            result = handler(json.loads(event_json), context)
        except Exception as exc:
            payload = _error_payload(exc)
            _log_error(payload)
            conn.send(("error", payload, _max_rss_mb()))
            continue
        try:
            result_json = json.dumps(result, default=_decimal_default)
        except (TypeError, ValueError) as exc:
            payload = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
                "stackTrace": [],
            }
            _log_error(payload)
            conn.send(("error", payload, _max_rss_mb()))
            continue
        conn.send(("result", result_json, _max_rss_mb()))
