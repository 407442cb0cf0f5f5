"""A status callback's POST against hostile receivers on real sockets: whatever a receiver does, the
POST ends within its deadline with a status or Unreachable, reads no more than a head, and follows
no redirect; its URL is held to the guarded client's address rules."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from sinch_gateway.domain.errors import InvalidRequest
from sinch_gateway.outbound.addresses import OutboundPolicy, check_address
from sinch_gateway.outbound.client import Unreachable, post
from tests.integration.raw_server import MARGIN, Behaviour, RawServer

BODY = b'{"id": "m-1", "status": "delivered"}'
HEADERS = {"Content-Type": "application/json", "X-Gateway-Signature": "t=1,v1=ab"}
LOCAL = OutboundPolicy(allow_http=True, allowed_private_hosts=frozenset({"127.0.0.1:*"}), total_timeout_s=1.0)


def answering(head: bytes) -> Behaviour:
    def behaviour(conn: socket.socket, server: RawServer) -> None:
        conn.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request or len(request.split(b"\r\n\r\n", 1)[1]) < len(BODY):
            request += conn.recv(4096)
        server.requests.append(request)
        conn.sendall(head)

    return behaviour


def url(server: RawServer) -> str:
    return f"http://127.0.0.1:{server.port}/hooks/sms?key=1"


def test_the_post_carries_the_body_and_headers_and_gives_the_status(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    server = serve(answering(b"HTTP/1.1 204 No Content\r\n\r\n"))
    assert post(url(server), LOCAL, BODY, HEADERS) == 204
    (request,) = server.requests
    head, body = request.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hooks/sms?key=1 HTTP/1.1"
    assert {
        "Content-Type: application/json",
        "X-Gateway-Signature: t=1,v1=ab",
        f"Content-Length: {len(BODY)}",
    } <= set(lines)
    assert body == BODY


def test_a_redirect_is_its_status_and_is_not_followed(serve: Callable[[Behaviour], RawServer]) -> None:
    target = serve(answering(b"HTTP/1.1 200 OK\r\n\r\n"))
    server = serve(answering(f"HTTP/1.1 307 Temporary\r\nLocation: {url(target)}\r\n\r\n".encode()))
    assert post(url(server), LOCAL, BODY, HEADERS) == 307
    assert target.requests == []


def test_a_huge_answer_is_not_read_past_its_head(serve: Callable[[Behaviour], RawServer]) -> None:
    huge_body = serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 200_000))
    assert post(url(huge_body), LOCAL, BODY, HEADERS) == 200
    endless_head = serve(answering(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"y" * 200_000))
    with pytest.raises(Unreachable):
        post(url(endless_head), LOCAL, BODY, HEADERS)


def stall(conn: socket.socket, server: RawServer) -> None:
    server.stop.wait(10)


def drip(conn: socket.socket, server: RawServer) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 100:
        conn.sendall(bytes([byte]))
        if server.stop.wait(0.05):
            return


@pytest.mark.parametrize("behaviour", [stall, drip], ids=["no answer", "one byte at a time"])
def test_a_slow_receiver_is_cut_off_at_the_deadline(
    serve: Callable[[Behaviour], RawServer], behaviour: Behaviour
) -> None:
    server = serve(behaviour)
    started = time.monotonic()
    with pytest.raises(Unreachable):
        post(url(server), LOCAL, BODY, HEADERS)
    assert time.monotonic() - started < LOCAL.total_timeout_s + MARGIN


def test_a_refused_connection_is_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(Unreachable):
        post(f"http://127.0.0.1:{port}/cb", LOCAL, BODY, HEADERS)


def test_garbage_instead_of_http_is_unreachable(serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(answering(b"\x16\x03\x01 not http at all\r\n\r\n"))
    with pytest.raises(Unreachable):
        post(url(server), LOCAL, BODY, HEADERS)


@pytest.mark.parametrize(
    ("target", "allowed", "reason"),
    [
        ("http://127.0.0.1:8080/cb", frozenset(), "forbidden address"),
        ("http://127.0.0.1:8080/cb", frozenset({"127.0.0.1:9090"}), "forbidden address"),  # another port
        ("http://127.0.0.2:8080/cb", frozenset({"127.0.0.1:*"}), "forbidden address"),  # another host
        ("http://10.0.0.7/cb", frozenset({"127.0.0.1:*"}), "forbidden address"),
        ("https://[fd00::1]/cb", frozenset(), "forbidden address"),
        ("http://93.184.215.14:8443/cb", frozenset(), "standard port"),
    ],
)
def test_the_address_rules_refuse_on_the_named_field(
    target: str, allowed: frozenset[str], reason: str
) -> None:
    policy = OutboundPolicy(allow_http=True, allowed_private_hosts=allowed)
    with pytest.raises(InvalidRequest) as refused:
        check_address(target, policy, "statusCallbackUrl")
    ((name, message),) = refused.value.errors
    assert name == "statusCallbackUrl" and reason in message
    with pytest.raises(Unreachable):  # and a POST refuses it the same way, before connecting
        post(target, policy, BODY, HEADERS)


def test_https_only_unless_the_deployment_allows_http() -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_address("http://93.184.215.14/cb", OutboundPolicy(allow_http=False), "statusCallbackUrl")
    assert refused.value.errors == [("statusCallbackUrl", "must use https")]
    check_address("https://93.184.215.14/cb", OutboundPolicy(allow_http=False), "statusCallbackUrl")
    check_address("http://127.0.0.1:5000/cb", LOCAL, "statusCallbackUrl")  # the local stack's any port


def test_a_url_cannot_smuggle_a_header_into_the_request(serve: Callable[[Behaviour], RawServer]) -> None:
    server = serve(answering(b"HTTP/1.1 204 No Content\r\n\r\n"))
    hostile = f"http://127.0.0.1:{server.port}/a\r\nX-Injected: 1\r\n\r\nGET /b?c d#frag"
    assert post(hostile, LOCAL, BODY, HEADERS) == 204
    (request,) = server.requests
    head = request.split(b"\r\n\r\n", 1)[0].decode()
    assert "X-Injected" not in head.split("\r\n", 1)[1], "only in the escaped request target, if at all"
    assert head.split("\r\n")[0].count(" ") == 2 and "#" not in head.split("\r\n")[0]
