"""moto in server mode, on a thread of the stack's process, safe under concurrent requests.

One job: serve moto's AWS emulation on 127.0.0.1. moto's DynamoDB backend is not safe for
concurrent requests on the same items: under load it raised `RuntimeError: dictionary changed
size during iteration` from its model's deepcopy, a 500 that real DynamoDB never gives. So
DynamoDB requests are served one at a time. Other services keep their concurrency: SQS long
polls (ReceiveMessage waiting up to 20 s) must not hold everyone else up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, its whole answer included."""

    def __init__(self, app: Wsgi) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("DynamoDB"):
            return self._app(environ, start_response)
        with self._lock:
            # Read the body inside the lock: moto builds it lazily from its models.
            return list(self._app(environ, start_response))


class MotoServer:
    """moto on a thread; a busy port is an error (moto's own ThreadedMotoServer hangs on one)."""

    def __init__(self, host: str, port: int) -> None:
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        app = SerialDynamoDB(DomainDispatcherApplication(create_backend_app))
        try:
            self._server = make_server(
                self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except (OSError, SystemExit) as exc:  # werkzeug exits the process on a busy port
            raise OSError(f"moto could not start on {self._host}:{self._port}: port in use") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return f"http://{self._host}:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
