"""What a message Sinch keeps answering 429 costs, and when it ends: a local stack of its own whose
messages may wait `max_age_s` (MaxMessageAgeSeconds) to be handed to Sinch. One SMS is delivered
first (the baseline); then the simulator answers every batch 429 (Retry-After 1 s) and `messages`
SMS are sent. Measured: the DynamoDB item of each (bytes, as DynamoDB counts them) against the
delivered one's, its retries (the folded event's count), how long after acceptance it ended
against `max_age_s`, what reached a handset (batches Sinch accepted) and one cancel of a message
mid-storm.

    python -m devstack.bench_bounded [--max-age 20] [--messages 5] [--out FILE]

In a process of its own (moto's backends are per process). Development only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack import aws
from devstack.dynamodb_limits import item_size
from devstack.fault_suite import FINAL, _http

if TYPE_CHECKING:
    from devstack.stack import LocalStack

TO = "+12025550148"


def measure(state: dict[str, Any], max_age_s: float, messages: int) -> dict[str, Any]:
    api, key, sim = state["api_url"].rstrip("/"), state["api_key"], state["sinch_url"].rstrip("/")
    db = aws.client("dynamodb", state["aws_endpoint_url"], state["region"])

    def get(message_id: str) -> dict[str, Any]:
        return dict(_http("GET", f"{api}/v1/messages/{message_id}", key=key)[1])

    def size(message_id: str) -> int:
        key_ = {"id": {"S": message_id}}
        return item_size(
            db.get_item(TableName=state["messages_table"], Key=key_, ConsistentRead=True)["Item"]
        )

    def send(text: str) -> str:
        status, answer = _http("POST", f"{api}/v1/messages", {"to": TO, "text": text}, key)
        if status != 202:
            raise RuntimeError(f"POST answered {status}: {answer}")
        return str(answer["id"])

    def until(check: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("the messages did not end in time")
            time.sleep(0.3)

    def batches_accepted() -> int:
        log = _http("GET", f"{sim}/_sim/requests")[1]
        return sum(
            1 for r in log if r["path"].endswith("/batches") and (r["response"] or {}).get("status") == 201
        )

    delivered = send("baseline")
    until(lambda: get(delivered)["status"] in FINAL, 60)
    before_storm = batches_accepted()
    _http("POST", f"{sim}/_sim/faults", {"rules": [{"match": "batches", "status": 429, "retry_after": 1}]})
    ids = [send(f"storm {n}") for n in range(messages)]
    cancelled = send("cancel me")
    until(lambda: (get(cancelled)["events"][1].get("count") or 0) >= 2, max_age_s)
    started = time.perf_counter()
    cancel_status, _ = _http("DELETE", f"{api}/v1/messages/{cancelled}", key=key)
    cancel_ms = (time.perf_counter() - started) * 1000
    until(lambda: all(get(m)["status"] in FINAL for m in ids), 3 * max_age_s + 60)
    ended = [get(m) for m in ids]
    return {
        "max_age_s": max_age_s,
        "messages": messages,
        "delivered_item_bytes": size(delivered),
        "storm_item_bytes": [size(m) for m in ids],
        "retries": [m["events"][1].get("count", 1) for m in ended],
        "events": [len(m["events"]) for m in ended],
        "ended": sorted({f"{m['status']}/{(m['error'] or {}).get('code')}" for m in ended}),
        "ended_after_s": [_seconds(m["createdAt"], m["updatedAt"]) for m in ended],
        "batches_accepted_in_storm": batches_accepted() - before_storm,
        "cancel_status": cancel_status,
        "cancel_ms": round(cancel_ms, 1),
    }


def _seconds(start: str, end: str) -> float:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 2)


def rows_of(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures as devstack.bench's rows (its Row's fields), each beside its baseline."""
    retries = figures["retries"]
    return [
        {
            "section": "bounded",
            "name": "item bytes of a message answered 429 until too_old",
            "value": max(figures["storm_item_bytes"]),
            "unit": "B",
            "baseline": figures["delivered_item_bytes"],
            "baseline_name": "a delivered SMS's item",
            "extra": {"retries (median)": statistics.median(retries), "events (max)": max(figures["events"])},
        },
        {
            "section": "bounded",
            "name": "seconds from acceptance to failed/too_old",
            "value": max(figures["ended_after_s"]),
            "unit": "s",
            "baseline": figures["max_age_s"],
            "baseline_name": "MaxMessageAgeSeconds",
            "extra": {
                "all too_old": float(figures["ended"] == ["failed/too_old"]),
                "batches Sinch accepted": figures["batches_accepted_in_storm"],
                "cancel mid-storm ms": figures["cancel_ms"],
                "cancel status": figures["cancel_status"],
            },
        },
    ]


@contextlib.contextmanager
def short_lived_stack(max_age_s: float, state_dir: Path) -> Iterator[LocalStack]:
    """A local stack of its own whose messages may wait `max_age_s` to be handed to Sinch, with
    quick retries. Named apart: moto's backends are the process's, and so are other stacks'."""
    from devstack.stack import LocalStack, StackConfig

    config = StackConfig(
        state_dir=state_dir,
        api_port=0,
        aws_port=0,
        sinch_port=0,
        stack_name=f"bounded-{uuid.uuid4().hex[:8]}",
        log_prefix=False,
        access_log=False,
        tracing=False,
        parameter_overrides={
            "MaxMessageAgeSeconds": f"{max_age_s:g}",
            "RetryBaseDelaySeconds": "0.2",
            "RetryMaxDelaySeconds": "3",
        },
    )
    with LocalStack(config, log=lambda line: None) as stack:
        yield stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-age", type=float, default=20.0, help="MaxMessageAgeSeconds, in seconds")
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the figures there, as JSON")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-bounded-") as state_dir,
        short_lived_stack(args.max_age, Path(state_dir)) as stack,
    ):
        figures = measure(stack.state(), args.max_age, args.messages)
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(figures), encoding="utf-8")
    return 0 if figures["ended"] == ["failed/too_old"] and figures["batches_accepted_in_storm"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
