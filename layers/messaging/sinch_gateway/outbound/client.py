"""The exchange with a caller's host (rules 3 and 4 of the package): a GET that follows redirects,
each hop held to rules 1-3 again, or a POST that follows none, all by one deadline.

urllib3's timeouts are per socket operation (a host dripping a byte a second never trips them), so
the exchange is written on socket, ssl and http.client, and every step is given only the time that
is left: the connect, the TLS handshake and every read of the answer, head and body.
"""

from __future__ import annotations

import functools
import http.client
import io
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast
from urllib.parse import quote, urljoin

from aws_lambda_powertools import Logger

from sinch_gateway.outbound.addresses import TARGET_SAFE, OutboundPolicy, Refused, Target, allowed_addresses

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

logger = Logger(child=True)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_URL_SAFE = TARGET_SAFE + "#"
_OBS_FOLD = re.compile(r"\r?\n[ \t]*")
_BAD_LOCATION = re.compile(r"[\x00-\x1f\x7f\\]")  # parsers disagree on what these mean
_MAX_HEAD_BYTES = 65_536  # the status line and headers
# Names neither the product nor a version of it; some hosts refuse a request with no User-Agent.
USER_AGENT = "Mozilla/5.0 (compatible)"
# What talking to a host can raise (ssl.SSLError and TimeoutError are OSErrors; http.client's parse
# errors are HTTPExceptions; a request that cannot be encoded is a ValueError): all of it is unreachable.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = field(default=b"", repr=False)  # a 200's, as much as BodySize allowed; else unread


# The head of a 200 -> how many bytes of its body to read. It raises (anything but the network
# errors above) to refuse the answer before a byte of its body is read; that passes out of get.
BodySize = Callable[[Answer], int]


@dataclass(frozen=True)
class _Body:
    """What a POST carries: the content and its headers (ASCII, ours, never a caller's)."""

    content: bytes
    headers: Mapping[str, str]

    def header_lines(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.headers.items()] + [f"Content-Length: {len(self.content)}"]


class _NotConnected(Exception):
    """Connecting to one address failed: the next address may be tried."""


class Unreachable(Exception):
    """A POST got no HTTP answer (or its URL now breaks rules 1-3); the message says which."""


def get(url: str, policy: OutboundPolicy, deadline: float, body_size: BodySize) -> tuple[str, Answer]:
    """GET `url` by `deadline`, following up to `policy.max_redirects` redirects: the URL that gave
    the final answer, and that answer (a 200 with as much of its body as `body_size` said, anything
    else with its head only). Raises Refused, its message completing "the URL ..."."""
    current = url
    for hop in range(policy.max_redirects + 1):
        try:
            target, answer = _request(current, policy, deadline, body_size)
        except Refused as refused:
            if hop == 0:
                raise
            raise Refused(f"redirects to a URL that {refused}", transient=refused.transient) from None
        if answer.status not in REDIRECT_STATUSES:
            return target.url, answer
        current = _location(target.url, answer)
    raise Refused(f"redirects more than {policy.max_redirects} times")


def post(url: str, policy: OutboundPolicy, content: bytes, headers: Mapping[str, str]) -> int:
    """POST `content` to `url` under rules 1-3 and the policy's deadlines, and return the answer's
    status. Only the answer's head is read (at most _MAX_HEAD_BYTES): the body never is, and a
    redirect is not followed (it is just its status)."""
    deadline = time.monotonic() + policy.total_timeout_s
    try:
        _, answer = _request(url, policy, deadline, None, body=_Body(content, headers))
    except Refused as refused:
        raise Unreachable(f"the URL {refused}") from None
    return answer.status


def _request(
    url: str,
    policy: OutboundPolicy,
    deadline: float,
    body_size: BodySize | None,
    *,
    body: _Body | None = None,
) -> tuple[Target, Answer]:
    """Rules 1-3: connect to a checked address of `url`; the next one only when connecting failed."""
    target = Target.parse(url, policy)
    cause: BaseException | None = None
    exchange = _exchange if body is None else functools.partial(_exchange, body=body)
    for address in allowed_addresses(target, policy, deadline):
        until = min(deadline, time.monotonic() + policy.timeout_s)
        try:
            return target, exchange(target, address, until, body_size)
        except _NotConnected as failure:
            cause = failure.__cause__
        except _NETWORK_ERRORS as failure:
            cause = failure
            break
    # The cause is for us; the client gets one reason, whatever it was.
    logger.info("caller's host could not be reached", extra={"cause": repr(cause)[:200]})
    raise Refused.unreachable()


def _exchange(
    target: Target, address: str, until: float, body_size: BodySize | None, *, body: _Body | None = None
) -> Answer:
    """One GET to `address` (the name kept for Host, SNI and the certificate), done by `until`: the
    answer's head, and a 200's body as far as `body_size` allows. With a `body`, a POST of it
    instead."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(_left(until))
        try:
            sock.connect((address, target.port))
        except OSError as failure:
            raise _NotConnected from failure
        if target.scheme == "http":
            return _converse(sock, target, until, body_size, body)
        context = ssl.create_default_context()  # here, not at import: it reads SSL_CERT_FILE
        with context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False) as tls:
            tls.settimeout(_left(until))  # the handshake as a whole, not each read of it
            tls.do_handshake()
            return _converse(tls, target, until, body_size, body)


def _converse(
    sock: socket.socket, target: Target, until: float, body_size: BodySize | None, body: _Body | None = None
) -> Answer:
    lines = [
        f"{'GET' if body is None else 'POST'} {target.request_target} HTTP/1.1",
        f"Host: {target.host_header}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Accept-Encoding: identity",  # a compressed answer would hide the real Content-Length
        "Connection: close",
        *(body.header_lines() if body is not None else []),
    ]
    sock.settimeout(_left(until))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body.content if body else b""))
    reader = _DeadlineReader(sock, until)
    stream = io.BufferedReader(reader)
    answer = _read_answer(stream)
    if body_size is None or answer.status != 200:
        # A redirect to follow, a refusal, or a POST's answer: its body is never read.
        return answer
    size = body_size(answer)  # before a byte of the body is read
    reader.allow(size)
    # The reader raises at an early end: exactly `size` bytes, or an error.
    return Answer(answer.status, answer.headers, stream.read(size))


def _left(until: float) -> float:
    left = until - time.monotonic()
    if left <= 0:
        raise TimeoutError("the request's time is up")
    return left


class _DeadlineReader(io.RawIOBase):
    """A socket as a stream for the answer: every read waits only for what is left of the time,
    reads stop at _MAX_HEAD_BYTES (plus the body's size once it is allowed), and the end of the
    stream is an error (http.client would take a head cut short for a whole one; a whole head ends
    with a blank line before any EOF, and a whole body has its Content-Length)."""

    def __init__(self, sock: socket.socket, until: float) -> None:
        super().__init__()
        self._sock = sock
        self._until = until
        self._allowance = _MAX_HEAD_BYTES

    def readable(self) -> bool:
        return True

    def allow(self, size: int) -> None:
        """Read on past the head: up to the body's `size` bytes more."""
        self._allowance += size

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._allowance <= 0:
            raise http.client.HTTPException("the answer's head is too long")
        self._sock.settimeout(_left(self._until))
        received = self._sock.recv_into(memoryview(buffer)[: self._allowance])
        if not received:
            raise http.client.RemoteDisconnected("the host closed the connection before its answer ended")
        self._allowance -= received
        return received


class _Borrowed:
    """The stream as http.client.HTTPResponse sees it: it reads the head, and closing it (which a
    collected HTTPResponse does) leaves the stream open for the body."""

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self._stream = stream

    def readline(self, limit: int = -1) -> bytes:
        return self._stream.readline(limit)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def close(self) -> None:
        """The stream belongs to the exchange, which reads the body from it."""


class _Source:
    """What http.client.HTTPResponse reads from: the same buffered stream every time it asks."""

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self._stream = stream

    def makefile(self, mode: str) -> _Borrowed:
        return _Borrowed(self._stream)


def _read_answer(stream: io.BufferedIOBase) -> Answer:
    """The status and headers at the start of `stream`; raises one of _NETWORK_ERRORS if they are not
    a clean HTTP/1.x answer."""
    source = cast(socket.socket, _Source(stream))  # HTTPResponse only calls makefile("rb")
    # Interim answers (103 Early Hints...) come before the real one.
    while True:
        response = http.client.HTTPResponse(source, method="GET")
        response.begin()
        if not 100 <= response.status < 200:
            break
    message = response.msg
    # A line that is no header ends the headers early (the rest lands in the payload): the answer
    # would be read with headers missing, so it is no answer. A multipart type's defects are harmless.
    multipart = message.get_content_maintype() == "multipart"
    if message.get_payload() or (message.defects and not multipart):
        raise http.client.HTTPException("the answer's headers do not parse")
    headers: dict[str, str] = {}
    for name, value in message.items():
        key, text = name.lower(), _OBS_FOLD.sub(" ", str(value)).strip(" \t")
        # repeated headers are joined ("5, 6"), so two Content-Lengths make no valid one
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Answer(response.status, headers)


def _location(url: str, answer: Answer) -> str:
    """The URL a redirect points to, resolved against the one that answered."""
    location = answer.headers.get("location", "").strip(" \t")
    if not location:
        raise Refused(f"answered HTTP {answer.status} without a Location")
    invalid = Refused(f"answered HTTP {answer.status} with an invalid Location")
    if _BAD_LOCATION.search(location):
        raise invalid
    try:
        # http.client read the header's bytes as Latin-1: escape those bytes, not a mis-decoding of them
        return urljoin(url, quote(location.encode("latin-1"), safe=_URL_SAFE))
    except ValueError:  # not Latin-1 (so not from the wire), or a host part urllib cannot split
        raise invalid from None
