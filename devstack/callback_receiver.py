"""A status callback receiver on 127.0.0.1, for tests, the fault suite and the bench: it keeps
every callback it takes (and when it got it), answers with the status it is told (or, at
`failure_rate`, a 500), or with `hang` accepts each POST and never answers it, and can go down
(refusing connections) and come back on the same port."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 65_536


@dataclass(frozen=True)
class Received:
    signature: str
    body: bytes
    at: float

    @property
    def callback(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # back on the same port at once after stop()
    daemon_threads = True


class CallbackReceiver:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, failure_rate: float = 0.0, seed: int = 7
    ) -> None:
        self.host = host
        self.port = port
        self.status = 200  # what a callback is answered with
        self.failure_rate = failure_rate  # the share of callbacks answered 500 instead
        self._random = random.Random(seed)
        self.received: list[Received] = []  # only the callbacks answered 2xx
        self.refused = 0  # callbacks answered otherwise
        self.hang = False  # read each POST and answer none (until stop)
        self.hung = 0  # POSTs left unanswered so far
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/callbacks"

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                if receiver.hang:
                    with receiver._lock:
                        receiver.hung += 1
                    receiver._released.wait()
                    return  # the connection closes with no answer at all
                with receiver._lock:
                    failing = receiver._random.random() < receiver.failure_rate
                    status = 500 if failing else receiver.status
                    if 200 <= status < 300:
                        receiver.received.append(
                            Received(self.headers.get("X-Gateway-Signature", ""), body, time.time())
                        )
                    else:
                        receiver.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._released.clear()
        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="callback-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the port: callbacks meet a refused connection until start() again."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.callback for r in self.received]

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """The callbacks once `done` holds for them, or when the time is up."""
        deadline = time.monotonic() + timeout
        while not done(got := self.callbacks()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return got

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
