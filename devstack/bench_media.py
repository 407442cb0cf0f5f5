"""What keeping an MMS's media adds to a send: p50/p95 of POST /v1/messages for one MMS on two running
local stacks, one of the code before media was kept (another checkout) and one of this code,
requests alternating between them in the same run (each pair in turn order, so that drift in the
machine's load falls on both), and the cost of a million MMS at the measured difference.

    python -m devstack.bench_media BEFORE_STATE_DIR AFTER_STATE_DIR [--requests 40] [--media sample.jpg]

Each directory is a running stack's DEVSTACK_STATE_DIR (its stack.json). Development only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from devstack.cost import media_cost_per_million

TO = "+12025550147"


def _post(stack: dict[str, Any], media: str) -> float:
    body = {"to": TO, "subject": "bench", "mediaUrl": f"{stack['sinch_url']}/_sim/media/{media}"}
    request = urllib.request.Request(  # noqa: S310 - the local stack, on 127.0.0.1
        f"{stack['api_url']}/v1/messages",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": stack["api_key"]},
        method="POST",
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - as above
        answer.read()
        if answer.status != 202:
            raise RuntimeError(f"POST answered {answer.status}")
    return (time.perf_counter() - started) * 1000


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(cuts[18], 1)}


def measure(before: dict[str, Any], after: dict[str, Any], requests: int, media: str) -> dict[str, Any]:
    for stack in (before, after):  # cold starts and first connections are not the point
        for _ in range(3):
            _post(stack, media)
    times: dict[str, list[float]] = {"before": [], "after": []}
    for n in range(requests):
        order = [("before", before), ("after", after)]
        for name, stack in order if n % 2 == 0 else reversed(order):
            times[name].append(_post(stack, media))
    differences = [a - b for a, b in zip(times["after"], times["before"], strict=True)]
    with urllib.request.urlopen(f"{after['sinch_url']}/_sim/media/{media}", timeout=10) as answer:  # noqa: S310
        size = len(answer.read())
    added_ms = max(0.0, statistics.median(differences))
    return {
        "requests_each": requests,
        "media": media,
        "media_bytes": size,
        "before": _percentiles(times["before"]),
        "after": _percentiles(times["after"]),
        "paired_difference_ms": _percentiles(differences),
        "cost_at_this_size": media_cost_per_million(size, added_send_ms=added_ms),
        "cost_at_300_kib": media_cost_per_million(300 * 1024, added_send_ms=added_ms),
        "cost_at_1_mib": media_cost_per_million(1024 * 1024, added_send_ms=added_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="state dir of a stack of the code before")
    parser.add_argument("after", type=Path, help="state dir of a stack of this code")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--media", default="sample.jpg")
    args = parser.parse_args()
    before, after = (json.loads((d / "stack.json").read_text()) for d in (args.before, args.after))
    print(json.dumps(measure(before, after, args.requests, args.media), indent=2))


if __name__ == "__main__":
    main()
