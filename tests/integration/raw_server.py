"""A raw TCP server on 127.0.0.1 for tests of the gateway's outbound requests (media preflight,
status callback POSTs) against hostile hosts: each connection runs a test's behaviour."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Callable

MARGIN = 0.75  # what a loaded 2-core machine may add on top of a deadline

Behaviour = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    """A TCP listener on 127.0.0.1 that runs `behaviour` on every connection until the test ends."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.requests: list[bytes] = []  # each request's head, as read by read_request
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> RawServer:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._spawn(functools.partial(self._handle, conn))

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the preflight hanging up is expected
            self.behaviour(conn, self)

    def read_request(self, conn: socket.socket) -> bytes:
        """An HTTP request's head, or the first bytes of anything else (a TLS ClientHello)."""
        conn.settimeout(5)
        head = conn.recv(4096)
        while head.startswith((b"HEAD ", b"GET ")) and b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                break
            head += chunk
        self.requests.append(head)
        return head
