"""One time budget for all media of one request (preflight_all), on real sockets: files are fetched
together, at most `parallel` at a time, and whatever is still unchecked when the budget ends is
refused as out of time, so the caller waits the budget at most."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from sinch_gateway.domain.errors import InvalidRequest, MediaUnavailable
from sinch_gateway.media.preflight import MediaInfo, MediaPolicy, preflight_all
from tests.integration.raw_server import MARGIN, Behaviour, RawServer
from tests.integration.test_media_preflight_hostile import OUT_OF_TIME

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"


class Slow:
    """A valid JPEG after `delay` seconds, counting how many requests it holds at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.open = 0
        self.most_open = 0

    def __call__(self, conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        with self.lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        stopped = server.stop.wait(self.delay)
        # Counted closed before the answer goes: once the client has it, its worker may open the next
        # request before this thread runs again, and counting after sendall would see both at once.
        with self.lock:
            self.open -= 1
        if not stopped:
            head = f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len(JPEG)}\r\n\r\n"
            conn.sendall(head.encode() + JPEG)


def policy(port: int, *, budget: float, parallel: int = 8) -> MediaPolicy:
    return MediaPolicy(
        allow_http=True,
        allowed_private_hosts=frozenset({f"127.0.0.1:{port}"}),
        timeout_s=30,  # only the budget binds
        total_timeout_s=budget,
        parallel=parallel,
    )


def urls(server: RawServer, count: int) -> list[str]:
    return [f"http://127.0.0.1:{server.port}/{n}.jpg" for n in range(count)]


def checked_within(server: RawServer, count: int, budget: float) -> list[MediaInfo | InvalidRequest]:
    """`count` files of `server` checked together: the caller has waited no longer than the budget."""
    started = time.monotonic()
    results = preflight_all(urls(server, count), policy(server.port, budget=budget))
    assert time.monotonic() - started < budget + MARGIN
    return results


def test_slow_files_are_fetched_together_and_all_pass_within_one_budget(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    # One after another, 8 files of 0.5 s would take 4 s: twice the budget.
    server = serve(Slow(0.5))

    results = checked_within(server, 8, budget=2.0)

    assert all(isinstance(r, MediaInfo) and r.body == JPEG for r in results), results
    assert [r.url for r in results if isinstance(r, MediaInfo)] == urls(server, 8)  # in order


def test_what_the_budget_does_not_reach_is_refused_as_out_of_time_and_the_caller_waits_no_longer(
    serve: Callable[[Behaviour], RawServer],
) -> None:
    # 24 files (8 slides of 3), 8 at a time, 0.5 s each: three rounds, and the budget ends in the third.
    host = Slow(0.5)
    server = serve(host)

    results = checked_within(server, 24, budget=1.2)

    assert all(isinstance(r, MediaInfo) for r in results[:8])  # the first round ends at 0.5 s
    refused = [r for r in results if not isinstance(r, MediaInfo)]
    assert refused, "the third round cannot end within 1.2 s"
    for refusal in refused:
        assert isinstance(refusal, MediaUnavailable)  # a later try may pass
        assert refusal.errors == [("mediaUrl", OUT_OF_TIME.format("1.2"))]
    assert host.most_open <= 8  # bounded: threads, connections and bodies held at once
