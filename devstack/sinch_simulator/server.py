"""HTTP layer: reads each request, records Sinch API calls, applies request faults, writes answers."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .common import STATUS_CODES, ApiRequest, Response, dumps, error_response, iso, loads_or_text, utcnow
from .config import SimConfig
from .control import Control
from .faults import FaultRule, FaultSet
from .media import HostBehaviour, Sample, ServedMedia, sample
from .mms import PATHS as MMS_PATHS
from .mms import MmsApi, failure
from .oauth import TOKEN_PATH, TokenIssuer, fault_error, oauth_error
from .recorder import Log
from .xms import XmsApi, fault_match

log = logging.getLogger(__name__)

MEDIA_PREFIX = "/_sim/media/"
CHUNK = 512


@dataclass(frozen=True)
class Services:
    xms: XmsApi
    mms: MmsApi
    control: Control
    requests: Log
    faults: FaultSet
    config: SimConfig
    tokens: TokenIssuer | None = None  # the OAuth2 token endpoint, when project auth is on
    served_media: ServedMedia = field(default_factory=ServedMedia)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    # Sinch's hosts (and a media host) take many connections at once; the default backlog of 5
    # drops the SYNs of a request's 8 parallel media fetches when accepting lags on a busy machine.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], services: Services) -> None:
        super().__init__(address, _Handler)
        self.services = services
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._open_lock:
            if add:
                self._open.add(conn)
            else:
                self._open.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # the client went away: nothing to report
            return
        log.exception("error serving %s", client_address)

    def close_connections(self) -> None:
        """Close keep-alive connections too, so stop() leaves no handler thread waiting on a client."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            _shutdown(conn)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        conn.shutdown(socket.SHUT_RDWR)


def request_match(method: str, path: str) -> str | None:
    """The fault-rule `match` a request to one of the Sinch APIs falls under, if any."""
    if path in MMS_PATHS:
        return "mms_api" if method == "POST" else None
    return fault_match(method, path)


def injected(rule: FaultRule) -> Response:
    """A fault's answer, shaped like the API it hits: OAuth2 errors for the token endpoint; for the
    MMS JSON API a failure payload with HTTP 200 (`error_code`), or a bare HTTP error as a proxy in
    front of it would give (`status`); else XMS."""
    if rule.error_code is not None:
        return Response(200, failure(rule.error_code, "Fault injected by the simulator"))
    status = rule.status or 500
    headers = {}
    if rule.retry_after is not None:
        value = rule.retry_after
        headers["Retry-After"] = str(int(value)) if float(value).is_integer() else str(value)
    if rule.match == "mms_api":
        text = f"{status} {_reason(status)} (fault injected by the simulator)\n".encode()
        return Response(status, text, {"Content-Type": "text/plain; charset=utf-8", **headers})
    if rule.match == "oauth":
        return oauth_error(status, fault_error(status), "Fault injected by the simulator", headers)
    return error_response(
        status, STATUS_CODES.get(status, "error"), "Fault injected by the simulator", headers
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status Python has no name for, such as 599
        return "Error"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive like Sinch, and chunked media needs 1.1
    timeout = 120  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: SimServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.track(self.connection, add=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if url.path.startswith(MEDIA_PREFIX):
            self._media(url.path[len(MEDIA_PREFIX) :], dict(parse_qsl(url.query, keep_blank_values=True)))
        elif url.path == "/_sim" or url.path.startswith("/_sim/"):
            self._write(self.server.services.control.handle(self.command, url.path, body))
        else:
            self._api(url.path, dict(parse_qsl(url.query, keep_blank_values=True)), body)

    def _api(self, path: str, query: dict[str, str], body: bytes) -> None:
        services = self.server.services
        lower_headers = {name.lower(): value for name, value in self.headers.items()}
        entry = services.requests.append(
            {
                "at": iso(utcnow()),
                "method": self.command,
                "path": path,
                "query": query,
                "headers": dict(self.headers.items()),
                "body": loads_or_text(body),
                "response": None,
            }
        )
        match = request_match(self.command, path)
        rule = services.faults.pick(match) if match else None
        if rule is not None and rule.delay_ms:
            time.sleep(rule.delay_ms / 1000)
        if rule is not None and rule.drop_connection:
            self._drop()
            return
        if rule is not None and (rule.status is not None or rule.error_code is not None):
            response = injected(rule)
        else:
            try:
                request = ApiRequest(self.command, path, query, lower_headers, body)
                if path == TOKEN_PATH and services.tokens is not None:
                    response = services.tokens.handle(self.command, lower_headers, body)
                elif path in MMS_PATHS:
                    response = services.mms.handle(request)
                else:
                    response = services.xms.handle(request)
            except Exception:  # a simulator bug answers like Sinch's 500, and is logged
                log.exception("simulator failed on %s %s", self.command, path)
                response = error_response(500, "internal_error", "Internal error in the simulator")
        data, headers = _encode(response)
        dropped = rule is not None and rule.accept_then_drop
        # A raw answer (bytes) is logged as its text: the log is served as JSON.
        shown = (
            response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) else response.body
        )
        recorded = {"status": response.status, "headers": headers, "body": shown}
        services.requests.update(entry, response=recorded, **({"dropped": True} if dropped else {}))
        if dropped:  # done the work, lose the answer
            self._drop()
        else:
            self._send(response.status, headers, data)

    def _media(self, name: str, query: dict[str, str]) -> None:
        if (refusal := self._media_refusal(query)) is not None:
            self._write(refusal)
            return
        services = self.server.services
        served_before = self.command == "GET" and services.served_media.served_before(name)
        found = sample(name, services.config.media_max_bytes, served_before=served_before)
        if found is None:
            self._write(error_response(404, "not_found", f"No sample media named {name!r}"))
            return
        if found.drip_s:
            self._drip(found)
            return
        if found.content_length is not None:
            self.send_response(200)
            self.send_header("Content-Type", found.content_type)
            self.send_header("Content-Length", found.content_length)
            self.end_headers()
            self.close_connection = True
            return
        if not found.chunked:
            self._send(200, {"Content-Type": found.content_type}, found.body)
            return
        self.send_response(200)
        self.send_header("Content-Type", found.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "GET":
            for start in range(0, len(found.body), CHUNK):
                piece = found.body[start : start + CHUNK]
                self.wfile.write(f"{len(piece):X}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    def _media_refusal(self, query: dict[str, str]) -> Response | None:
        """Why a media URL gets no file: a method other than GET or HEAD, a query out of range, or
        the failure its query asks for (after the delay it asks for)."""
        if self.command not in ("GET", "HEAD"):
            return error_response(405, "method_not_allowed", "Media answers GET and HEAD")
        behaviour = HostBehaviour.from_query(query)
        if behaviour is None:
            return error_response(400, "bad_request", "delay_ms, fail_first or status out of range")
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        served = self.server.services.served_media
        if self.command == "GET" and served.times_before(self.path) < behaviour.fail_first:
            return error_response(behaviour.status, "unavailable", "The media host fails this GET")
        return None

    def _drip(self, found: Sample) -> None:
        """The head of a good answer, a byte at a time, until the client gives up (or a minute)."""
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {found.content_type}\r\n"
            f"Content-Length: {len(found.body)}\r\n\r\n"
        ).encode()
        self.close_connection = True
        deadline = time.monotonic() + 60
        for byte in head:
            if time.monotonic() > deadline:
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return  # the client stopped waiting
            time.sleep(found.drip_s)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, response: Response) -> None:
        data, headers = _encode(response)
        self._send(response.status, headers, data)

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drop(self) -> None:
        """Close the socket without a byte of answer: the client sees the connection die."""
        self.close_connection = True
        _shutdown(self.connection)


def _encode(response: Response) -> tuple[bytes, dict[str, str]]:
    if isinstance(response.body, bytes):
        return response.body, dict(response.headers)
    data = b"" if response.body is None else dumps(response.body)
    return data, {"Content-Type": "application/json", **response.headers}
