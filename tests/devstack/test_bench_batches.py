"""devstack.bench_batches' arithmetic: progress from a batch's counts, each recipient seen at Sinch
exactly once, the polls left out of the cost, the rows, and a clear refusal without a batch API."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devstack.bench import Row
from devstack.bench_batches import (
    BatchApiMissing,
    main,
    ok,
    post_batch,
    progress,
    rows_of,
    sinch_figures,
    without_polls,
)
from devstack.fictional import fictional_numbers

PLAN = "/xms/v1/local-plan/batches"
STARTED = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def call(to: list[str], status: int, at: str = "2026-05-28T20:26:42.500Z", **more: Any) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": PLAN,
        "at": at,
        "body": {"to": to},
        "response": {"status": status},
        **more,
    }


def test_progress_counts_handed_over_and_final_recipients() -> None:
    counts = {"accepted": 3, "retrying": 1, "submitted": 4, "dispatched": 2, "delivered": 5, "failed": 1}
    assert progress(counts) == (12, 6)
    assert progress({}) == (0, 0)


def test_each_recipient_is_counted_over_every_call_sinch_accepted() -> None:
    a, b, c, d = fictional_numbers(4)
    requests = [
        call([a, b.removeprefix("+")], 201, at="2026-05-28T20:26:41.000Z"),
        call([c], 503),  # refused: not seen
        call([c], 201, at="2026-05-28T20:26:43.250Z", dropped=True),  # answer lost, yet taken
        call([b], 201, at="2026-05-28T20:26:42.000Z"),  # b a second time
        call(["+12025550199"], 201),  # not one of ours
        call([d], 429),
        {
            "method": "GET",
            "path": PLAN + "/X/delivery_report/" + a,
            "at": "",
            "body": None,
            "response": {"status": 200},
        },
    ]
    got = sinch_figures(requests, [a, b, c, d], STARTED)
    assert got == {
        "calls": 6,
        "answers": {"201": 4, "429": 1, "503": 1},
        "accepted_calls": 4,
        "lookups": 1,
        "most_recipients_in_a_call": 2,
        "lost": 1,  # d
        "doubled": 1,  # b
        "unexpected": 1,
        "last_taken_s": 3.25,
    }


def test_the_polls_are_taken_out_of_sendfunctions_invocations_only() -> None:
    usage: dict[str, Any] = {
        "invocations_per_delivered": {"SendFunction": 0.0301, "WebhookFunction": 2.0},
        "other": 1,
    }
    got = without_polls(usage, polls=200, recipients=10_000)
    assert got["invocations_per_delivered"] == {"SendFunction": 0.01, "WebhookFunction": 2.0}
    assert got["other"] == 1 and usage["invocations_per_delivered"]["SendFunction"] == 0.0301


def _part(calls: int, writes: dict[str, float], total: float, **more: Any) -> dict[str, Any]:
    sinch = {"calls": calls, "answers": {"201": calls}, "lost": 0, "doubled": 0, "last_taken_s": 9.5}
    sinch["most_recipients_in_a_call"] = 1000
    return {
        "post_s": 0.8,
        "post_p50_s": 0.05,
        "refused": 0,
        "submitted_s": 11.0,
        "final_s": 30.0,
        "sinch": sinch,
        "usage": {"dynamodb_writes_per_delivered": writes},
        "cost": {"total_usd_per_million": total, "usd_per_million": {"api_gateway": 7.0}},
        **more,
    }


FIGURES: dict[str, Any] = {
    "recipients": 10_000,
    "baseline_recipients": 10_000,
    "rate_per_s": 1000.0,
    "concurrency": 16,
    "batch": _part(12, {"QueueFunction:message": 2.0, "WebhookFunction:message": 1.0}, 20.5),
    "single": _part(10_000, {"SendFunction:message": 2.0, "WebhookFunction:message": 2.0}, 31.0),
}


def test_rows_put_the_batch_beside_the_same_recipients_sent_one_by_one() -> None:
    rows = [Row(**row) for row in rows_of(FIGURES)]
    by_name = {row.name: row for row in rows}
    assert len(rows) == 6
    calls = by_name["10,000-recipient batch: Sinch calls"]
    assert (calls.value, calls.baseline, calls.extra["floor"], calls.extra["lost"]) == (
        12.0,
        10_000.0,
        10.0,
        0.0,
    )
    writes = by_name["DynamoDB item writes per recipient, batch"]
    assert (writes.value, writes.baseline) == (3.0, 4.0)
    cost = by_name["USD per 1M recipients, batch"]
    assert (cost.value, cost.baseline, cost.unit) == (20.5, 31.0, "USD")
    assert by_name["10,000-recipient batch: all final"].ratio == 1.0


def test_a_run_is_ok_only_with_every_recipient_final_and_seen_once() -> None:
    assert ok(FIGURES)
    lost = {**FIGURES, "batch": {**FIGURES["batch"], "sinch": {**FIGURES["batch"]["sinch"], "lost": 1}}}
    assert not ok(lost)
    unsettled = {**FIGURES, "single": {**FIGURES["single"], "final_s": None}}
    assert not ok(unsettled)


@contextlib.contextmanager
def api_answering(status: int, body: dict[str, Any]) -> Iterator[str]:
    """An API that answers every POST with `status` and `body`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_batch_api_it_says_so_plainly() -> None:
    # The stack before the batch API: no such route.
    with (
        api_answering(404, {"type": "not-found", "detail": "no such route"}) as api,
        pytest.raises(BatchApiMissing, match=r"POST /v1/batches answered 404.*no batch API yet"),
    ):
        post_batch({"api_url": api, "api_key": "k"}, fictional_numbers(2), "ref")


def test_a_refused_batch_is_not_taken_for_a_missing_api() -> None:
    with (
        api_answering(422, {"type": "validation"}) as api,
        pytest.raises(RuntimeError, match="answered 422") as raised,
    ):
        post_batch({"api_url": api, "api_key": "k"}, fictional_numbers(2), "ref")
    assert not isinstance(raised.value, BatchApiMissing)


@pytest.mark.parametrize(
    "argv", [["--recipients", "0"], ["--recipients", "10001"], ["--baseline-recipients", "0"]]
)
def test_counts_outside_the_fictional_numbers_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2


def test_writes_to_the_batches_table_are_counted_as_batch_items() -> None:
    from devstack.bench_rate import _item_kind

    assert _item_kind({"TableName": "sinch-gateway-BatchesTable-1A2B", "id": "01J0ABC"}) == "batch"
    assert _item_kind({"TableName": "sinch-gateway-MessagesTable-1A2B", "id": "3f1c2a8e"}) == "message"
    assert _item_kind({"TableName": "sinch-gateway-MessagesTable-1A2B", "id": "rate#all"}) == "rate"
