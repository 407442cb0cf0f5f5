"""A local X-Ray daemon: what the X-Ray SDK in a function sends, kept as JSON lines.

One job: listen on UDP where ``AWS_XRAY_DAEMON_ADDRESS`` points, take each datagram the SDK
sends (a ``{"format":"json","version":1}`` header line, then one segment or subsegment
document) and append the document, unchanged, as one line of a file. The runtime adds the
function segment Lambda itself would send (:meth:`XRayDaemon.record`). Nothing is forwarded
anywhere: the file is there to be read (by a developer, or a test scanning it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

_HEADER = '{"format":"json","version":1}'
_MAX_DATAGRAM = 64 * 1024  # the X-Ray daemon's own limit
_RECEIVE_BUFFER = 4 * 1024 * 1024  # bursts of subsegments from many workers (capped by rmem_max)


class XRayDaemon:
    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = path
        self._host = host
        self._port = port
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.documents = 0

    @property
    def address(self) -> str:
        """The value for ``AWS_XRAY_DAEMON_ADDRESS``."""
        assert self._socket is not None, "not started"
        host, port = self._socket.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> XRayDaemon:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        sock.bind((self._host, self._port))
        self._socket = sock
        self._thread = threading.Thread(target=self._serve, name="xray-daemon", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._socket is not None
        while True:
            try:
                data = self._socket.recv(_MAX_DATAGRAM)
            except OSError:
                return  # closed by stop()
            if self._stopping.is_set():
                return
            if not data:
                continue
            header, _, body = data.decode("utf-8", errors="replace").partition("\n")
            try:
                document: Any = json.loads(body if header.strip() == _HEADER else header + "\n" + body)
            except ValueError:
                document = {"unparsed": data.decode("utf-8", errors="replace")}  # kept: it was sent
            self.record(document)

    def record(self, document: Any) -> None:
        """Append one document (a segment or subsegment) as a line of the file."""
        line = (json.dumps(document, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._fd is None:
                return
            os.write(self._fd, line)
            self.documents += 1

    def stop(self) -> None:
        self._stopping.set()
        if self._socket is not None:
            # shutdown() wakes the blocked recv() on Linux; close() alone may not.
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
