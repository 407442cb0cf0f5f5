"""What a caller waits for when an MMS's media is slow but valid: POST /v1/messages with 1, 6 and 24
files (slides) that each take `delay_ms` to answer (the simulator's media host), on a running local
stack. One file is the baseline, measured in the same run.

All media of a request share one time budget (MEDIA_BUDGET_S) and are fetched together, 8 at a
time: 6 slow files cost about what one does, and 24 (three rounds) end as a 422 at the budget.
Checked one by one, each with its own deadline, 6 files of 2.7 s took 16.3 s: past SendFunction's
15 s timeout, a 5xx.

    python -m devstack.bench_media_budget [STATE_DIR] [--delay-ms 2700] [--repeats 3]

STATE_DIR is a running stack's DEVSTACK_STATE_DIR (its stack.json); without it, a stack of its own.
Development only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TO = "+12025550149"
COUNTS = (1, 6, 24)
# 24 files: 8 slides of the three kinds the MMS JSON API lets share one.
KINDS_TOGETHER = ("vcf", "ics", "pdf")


def _slides(sinch_url: str, files: int, delay_ms: int) -> list[dict[str, Any]]:
    def url(kind: str) -> str:
        return f"{sinch_url}/_sim/media/sample.{kind}?delay_ms={delay_ms}"

    if files <= 8:
        return [{"mediaUrl": url("jpg")} for _ in range(files)]
    per_slide = files // 8
    return [{"mediaUrl": [url(kind) for kind in KINDS_TOGETHER[:per_slide]]} for _ in range(8)]


def _post(api_url: str, api_key: str, body: dict[str, Any]) -> tuple[int, float]:
    request = urllib.request.Request(  # noqa: S310 - the local stack, on 127.0.0.1
        f"{api_url}/v1/messages",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": api_key},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - as above
            answer.read()
            status = int(answer.status)
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, time.perf_counter() - started


def measure(stack: dict[str, Any], *, delay_ms: int = 2700, repeats: int = 3) -> dict[str, Any]:
    """For each number of files: the median seconds a caller waited, and the answers' statuses."""

    def body(files: int, delay_ms: int) -> dict[str, Any]:
        slides = _slides(stack["sinch_url"], files, delay_ms)
        return {"to": TO, "subject": "bench", "fallbackText": "bench", "slides": slides}

    for _ in range(2):  # cold starts and first connections are not the point
        _post(stack["api_url"], stack["api_key"], body(1, 0))
    figures: dict[str, Any] = {"delay_ms": delay_ms, "repeats": repeats}
    samples: dict[int, list[tuple[int, float]]] = {count: [] for count in COUNTS}
    for _ in range(repeats):  # in turn, so that drift in the machine's load falls on each
        for count in COUNTS:
            samples[count].append(_post(stack["api_url"], stack["api_key"], body(count, delay_ms)))
    for count, taken in samples.items():
        figures[f"files_{count}"] = {
            "median_s": round(statistics.median(s for _, s in taken), 2),
            "max_s": round(max(s for _, s in taken), 2),
            "statuses": sorted({status for status, _ in taken}),
        }
    return figures


@contextlib.contextmanager
def _own_stack() -> Iterator[dict[str, Any]]:
    from devstack.stack import LocalStack, StackConfig

    with tempfile.TemporaryDirectory(prefix="bench-media-budget-") as state:
        config = StackConfig(
            state_dir=Path(state), api_port=0, aws_port=0, sinch_port=0, log_prefix=False, access_log=False
        )
        with LocalStack(config, log=lambda line: None) as stack:
            yield stack.state()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state_dir", type=Path, nargs="?", help="a running stack's state dir")
    parser.add_argument("--delay-ms", type=int, default=2700, help="how late each file's answer starts")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with contextlib.ExitStack() as cleanup:
        if args.state_dir is not None:
            stack = json.loads((args.state_dir / "stack.json").read_text(encoding="utf-8"))
        else:
            stack = cleanup.enter_context(_own_stack())
        print(json.dumps(measure(stack, delay_ms=args.delay_ms, repeats=args.repeats), indent=2))


if __name__ == "__main__":
    main()
