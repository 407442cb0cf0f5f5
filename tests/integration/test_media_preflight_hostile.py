"""media_preflight against hostile hosts on real sockets (127.0.0.1, allowlisted through MediaPolicy).

A host that drips, stalls or never answers is cut off at the preflight's deadline (out of time, when
it was the request's budget that ended it); garbage is one and the same "could not be reached";
odd headers are a 422 that names the check, never a 500.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sinch_gateway.api.problems import problem_kind
from sinch_gateway.domain.errors import InvalidRequest, MediaUnavailable
from sinch_gateway.media.preflight import MediaInfo, MediaPolicy, preflight
from tests.integration.raw_server import MARGIN, Behaviour, RawServer

UNREACHABLE = "could not be reached"
OUT_OF_TIME = "could not be fetched in time: all media of a request must be fetched within {} seconds"
NO_LENGTH = "has no Content-Length (chunked transfer is not accepted by Sinch)"
TOO_LARGE = "is {} bytes; the limit is 1048576 bytes"
BUDGET = 1.0  # the preflight's whole time in the timing tests
HEAD_OK = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 2048\r\n\r\n"


def policy(port: int, *, total: float = 10.0, each: float = 30.0, https: bool = False) -> MediaPolicy:
    """Only the total budget binds unless `each` (one request's cap) is the smaller."""
    return MediaPolicy(
        allow_http=not https,
        allowed_private_hosts=frozenset({f"127.0.0.1:{port}"}),
        timeout_s=each,
        total_timeout_s=total,
    )


def refusal(url: str, media_policy: MediaPolicy) -> str:
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, media_policy)
    assert problem_kind(exc.value).status == 422
    [(name, message)] = exc.value.errors
    assert name == "mediaUrl"
    return message


def unreachable_within(url: str, media_policy: MediaPolicy, limit: float) -> float:
    started = time.monotonic()
    assert refusal(url, media_policy) == UNREACHABLE
    elapsed = time.monotonic() - started
    assert elapsed < limit + MARGIN
    return elapsed


def out_of_time_within(url: str, media_policy: MediaPolicy, limit: float) -> float:
    """Refused because the request's budget ran out (a later try may pass), and no later."""
    started = time.monotonic()
    with pytest.raises(MediaUnavailable) as exc:
        preflight(url, media_policy)
    elapsed = time.monotonic() - started
    assert exc.value.errors == [("mediaUrl", OUT_OF_TIME.format(f"{media_policy.total_timeout_s:g}"))]
    assert elapsed < limit + MARGIN
    return elapsed


# --- behaviours ----------------------------------------------------------------------------------


def drip(prefix: bytes, forever: bytes, interval: float = 0.1) -> Behaviour:
    """`prefix`, then `forever` repeated, one byte per `interval`: the answer's head never ends."""

    def behave(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        data = prefix
        while not server.stop.is_set():
            for byte in data:
                conn.sendall(bytes([byte]))
                if server.stop.wait(interval):
                    return
            data = forever

    return behave


def silent(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    server.stop.wait()


def answer(raw: bytes, *, then_close: bool = False) -> Behaviour:
    def behave(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        conn.sendall(raw)
        if not then_close:
            server.stop.wait()  # the preflight must decide from what it got, not from the connection closing

    return behave


def reset(conn: socket.socket, server: RawServer) -> None:
    server.read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# --- one absolute deadline -----------------------------------------------------------------------


def test_a_host_dripping_its_headers_is_cut_off_at_the_deadline(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    server = serve(drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"))
    elapsed = out_of_time_within(
        f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port, total=BUDGET), BUDGET
    )
    assert elapsed >= BUDGET * 0.9  # it was the deadline that ended it, not the host


def test_a_request_is_also_cut_off_at_its_own_cap(serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"))
    unreachable_within(f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port, each=0.5), 0.5)


def test_a_host_that_accepts_and_never_answers(serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(silent)
    out_of_time_within(f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port, total=BUDGET), BUDGET)
    assert len(server.requests) == 1


def test_a_port_that_never_completes_the_handshake() -> None:
    # A full accept queue drops further SYNs: the connect hangs as it does on a filtered port.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            out_of_time_within(f"http://127.0.0.1:{port}/a.jpg", policy(port, total=BUDGET), BUDGET)


def test_a_tls_handshake_that_stalls(serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(silent)  # reads the ClientHello, never answers it
    url = f"https://127.0.0.1:{server.port}/a.jpg"
    out_of_time_within(url, policy(server.port, total=BUDGET, https=True), BUDGET)


def test_a_tls_handshake_that_drips(serve: Callable[[Behaviour], RawServer]) -> None:
    # A handshake record announcing 16 KiB, then a byte a tenth of a second: each read gets data.
    server = serve(drip(b"\x16\x03\x03\x40\x00", b"\x00"))
    url = f"https://127.0.0.1:{server.port}/a.jpg"
    elapsed = out_of_time_within(url, policy(server.port, total=BUDGET, https=True), BUDGET)
    assert elapsed >= BUDGET * 0.9


def test_interim_answers_forever(serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(drip(b"", b"HTTP/1.1 100 Continue\r\n\r\n", interval=0.01))
    out_of_time_within(f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port, total=BUDGET), BUDGET)


def test_the_deadline_spans_every_redirect(serve: Callable[[Behaviour], RawServer]) -> None:
    def slow_redirect(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        if not server.stop.wait(0.4):
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")
        server.stop.wait()

    server = serve(slow_redirect)
    media_policy = MediaPolicy(
        allow_http=True,
        allowed_private_hosts=frozenset({f"127.0.0.1:{server.port}"}),
        max_redirects=10,
        total_timeout_s=BUDGET,
    )
    out_of_time_within(f"http://127.0.0.1:{server.port}/a.jpg", media_policy, BUDGET)


def test_a_resolver_that_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def stuck(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    url = "https://slow-dns.test/a.jpg"
    try:
        out_of_time_within(url, MediaPolicy(allow_http=False, total_timeout_s=BUDGET), BUDGET)
        # and each lookup is also held to one request's time
        unreachable_within(url, MediaPolicy(allow_http=False, timeout_s=0.5, total_timeout_s=10), 0.5)
    finally:
        release.set()  # the abandoned lookup threads end with the test


def test_an_endless_head_is_cut_off_by_size_long_before_the_deadline(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    # Interim answers as fast as the socket takes them: no header count or line length stops these.
    def endless(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        while not server.stop.is_set():
            conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" * 100)

    server = serve(endless)
    unreachable_within(f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port), 0.5)


# --- one reason for every host that does not answer properly -------------------------------------

SERVICES = {
    "ssh": answer(b"SSH-2.0-OpenSSH_9.6\r\n"),
    "smtp": answer(b"220 mail.example ESMTP\r\n"),
    "http/0.9 body": answer(b"<html>hello</html>\n"),
    "binary": answer(bytes(range(256))),
    "status not a number": answer(b"HTTP/1.1 abc OK\r\n\r\n"),
    "status below 100": answer(b"HTTP/1.1 99 Low\r\n\r\n"),
    "status above 999": answer(b"HTTP/1.1 1000 High\r\n\r\n"),
    "http/2 status line": answer(b"HTTP/2 200\r\n\r\n"),
    "101 headers": answer(b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n"),
    "a line that is no header": answer(
        b"HTTP/1.1 200 OK\r\nnot a header\r\nContent-Type: image/jpeg\r\nContent-Length: 5\r\n\r\n"
    ),
    "a header name with a space": answer(b"HTTP/1.1 200 OK\r\nContent Type: image/jpeg\r\n\r\n"),
    "a 70 KB header": answer(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n"),
    "a 70 KB status line": answer(b"HTTP/1.1 200 " + b"a" * 70_000 + b"\r\n\r\n"),
    "head cut short": answer(b"HTTP/1.1 200 OK\r\nContent-Type: ima", then_close=True),
    "closes at once": answer(b"", then_close=True),
    "reset": reset,
}


@pytest.mark.parametrize("behaviour", SERVICES.values(), ids=SERVICES.keys())
def test_anything_but_an_http_answer_is_one_reason_at_once(
    behaviour: Behaviour, serve: Callable[[Behaviour], RawServer]
) -> None:
    server = serve(behaviour)
    unreachable_within(f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port), 0.5)


def test_a_closed_port_a_silent_one_tls_and_garbage_look_the_same(
    serve: Callable[[Behaviour], RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    hosts = {
        "closed": closed,
        "silent": serve(silent).port,
        "plain http": serve(answer(HEAD_OK)).port,  # https to it: the handshake fails
        "ssh": serve(answer(b"SSH-2.0-OpenSSH_9.6\r\n")).port,
    }
    # Each host within its own time (the request's cap): what the request's budget cuts off says
    # so (and the caller has seen the time pass).
    messages = {
        name: refusal(f"https://127.0.0.1:{port}/a.jpg", policy(port, each=0.5, https=True))
        for name, port in hosts.items()
    }

    def nowhere(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nowhere)
    messages["no such name"] = refusal("https://nowhere.test/a.jpg", MediaPolicy(allow_http=False))
    assert set(messages.values()) == {UNREACHABLE}, messages


# --- odd answers: a 422 that names the check -----------------------------------------------------


def head(*lines: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


JPEG_TYPE = b"Content-Type: image/jpeg"
ODD_ANSWERS: dict[str, tuple[bytes, str | int]] = {
    # Content-Length: only ASCII digits make a size
    "superscript two": (head(JPEG_TYPE, b"Content-Length: \xb2"), NO_LENGTH),
    "arabic-indic digits": (head(JPEG_TYPE, "Content-Length: ١٢".encode()), NO_LENGTH),
    "sign": (head(JPEG_TYPE, b"Content-Length: +12"), NO_LENGTH),
    "inner space": (head(JPEG_TYPE, b"Content-Length: 1 2"), NO_LENGTH),
    "two values": (head(JPEG_TYPE, b"Content-Length: 12, 12"), NO_LENGTH),
    "two headers": (head(JPEG_TYPE, b"Content-Length: 12", b"Content-Length: 13"), NO_LENGTH),
    "5000 digits": (
        head(JPEG_TYPE, b"Content-Length: " + b"9" * 5000),
        TOO_LARGE.format("more than " + "9" * 18),
    ),
    "19 digits": (
        head(JPEG_TYPE, b"Content-Length: " + b"1" + b"0" * 18),
        TOO_LARGE.format("more than " + "9" * 18),
    ),
    "18 digits": (head(JPEG_TYPE, b"Content-Length: 0" + b"9" * 18), TOO_LARGE.format("9" * 18)),
    "no-break space": (head(JPEG_TYPE, b"Content-Length: \xa012"), NO_LENGTH),
    "leading zeros": (head(JPEG_TYPE, b"Content-Length: 000012"), 12),
    "folded": (head(JPEG_TYPE, b"Content-Length:", b" 12"), 12),
    "oversized": (
        head(JPEG_TYPE, b"Content-Length: 999999999999"),
        "is 999999999999 bytes; the limit is 1048576 bytes",
    ),
    # Content-Type
    "type with utf-8": (
        head("Content-Type: imagé/jpeg".encode(), b"Content-Length: 5"),
        "has an unsupported Content-Type imag??/jpeg",
    ),
    "type with control": (
        head(b"Content-Type: \x1b[31mimage/jpeg", b"Content-Length: 5"),
        "has an unsupported Content-Type ?[31mimage/jpeg",
    ),
    "two types": (
        head(JPEG_TYPE, b"Content-Type: text/html", b"Content-Length: 5"),
        "has an unsupported Content-Type image/jpeg, text/html",
    ),
    "type is only parameters": (
        head(b"Content-Type: ; charset=x", b"Content-Length: 5"),
        "has no Content-Type",
    ),
    "multipart": (
        head(b"Content-Type: multipart/mixed; boundary=x", b"Content-Length: 5"),
        "has an unsupported Content-Type multipart/mixed",
    ),
    # other bytes and statuses
    "invalid utf-8 in another header": (head(JPEG_TYPE, b"Content-Length: 5", b"X-Name: \xff\xfe\xc3("), 5),
    "status 999": (head(JPEG_TYPE, b"Content-Length: 5", status=b"999 Whatever"), "answered HTTP 999"),
    "status without reason": (head(JPEG_TYPE, b"Content-Length: 5", status=b"200"), 5),
    "early hints first": (
        head(b"Link: </a.css>", status=b"103 Early Hints") + head(JPEG_TYPE, b"Content-Length: 7"),
        7,
    ),
    "204": (head(JPEG_TYPE, b"Content-Length: 5", status=b"204 No Content"), "answered HTTP 204"),
}


@pytest.mark.parametrize(("raw", "expected"), ODD_ANSWERS.values(), ids=ODD_ANSWERS.keys())
def test_odd_answers(raw: bytes, expected: str | int, serve: Callable[[Behaviour], RawServer]) -> None:
    body = bytes(range(expected)) if isinstance(expected, int) else b""  # the size the head states
    server = serve(answer(raw + body))
    url = f"http://127.0.0.1:{server.port}/a.jpg"
    if isinstance(expected, int):
        assert preflight(url, policy(server.port)) == MediaInfo(url, "image/jpeg", body)
    else:
        assert refusal(url, policy(server.port)) == expected


def redirect_to(location: bytes) -> bytes:
    return head(b"Location: " + location, b"Content-Length: 0", status=b"302 Found")


LOCATIONS: dict[str, tuple[bytes, str]] = {
    "unclosed IPv6 bracket": (b"http://[::1/a.jpg", "answered HTTP 302 with an invalid Location"),
    "backslashes": (b"\\\\evil.example/a.jpg", "answered HTTP 302 with an invalid Location"),
    "control character": (b"/a\x01b.jpg", "answered HTTP 302 with an invalid Location"),
    "fullwidth number sign": (
        "https://a\uff03b.example/".encode(),
        "redirects to a URL that is not a valid URL (host or port)",
    ),
    "unicode host": (
        "https://bücher.example/a.jpg".encode(),
        "redirects to a URL that is not a valid URL (host or port)",
    ),
    "other scheme": (b"gopher://media.example/", "redirects to a URL that must use https"),
    "javascript": (b"javascript:alert(1)", "redirects to a URL that must use https"),
    "loopback on another port": (
        b"http://127.0.0.1:1/a.jpg",
        "redirects to a URL that resolves to a forbidden address",
    ),
    "mapped IPv6 loopback": (
        b"http://[::ffff:127.0.0.1]/",
        "redirects to a URL that resolves to a forbidden address",
    ),
    "metadata": (
        b"http://169.254.169.254/latest/meta-data/",
        "redirects to a URL that resolves to a forbidden address",
    ),
    "zone in an IPv6 literal": (
        b"http://[fe80::1%25eth0]/",
        "redirects to a URL that is not a valid URL (host or port)",
    ),
    "port out of range": (
        b"http://media.example:70000/",
        "redirects to a URL that is not a valid URL (host or port)",
    ),
    "empty": (b"", "answered HTTP 302 without a Location"),
}


@pytest.mark.parametrize(("location", "expected"), LOCATIONS.values(), ids=LOCATIONS.keys())
def test_odd_locations(location: bytes, expected: str, serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(answer(redirect_to(location)))
    message = refusal(f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port))
    assert message.startswith(expected), message
    assert len(server.requests) == 1


def test_a_location_with_utf8_is_fetched_as_those_bytes_escaped(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    def routed(conn: socket.socket, server: RawServer) -> None:
        path = re.split(rb"\s", server.read_request(conn))[1]
        conn.sendall(
            head(JPEG_TYPE, b"Content-Length: 9") + b"123456789"
            if path != b"/a.jpg"
            else redirect_to("/café.jpg".encode())
        )
        server.stop.wait()

    server = serve(routed)
    info = preflight(f"http://127.0.0.1:{server.port}/a.jpg", policy(server.port))
    assert info == MediaInfo(f"http://127.0.0.1:{server.port}/caf%C3%A9.jpg", "image/jpeg", b"123456789")
    assert [r.split(b" ")[1] for r in server.requests] == [b"/a.jpg", b"/caf%C3%A9.jpg"]
