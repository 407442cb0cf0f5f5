"""A batch of 10,000 recipients beside the same recipients sent one POST /v1/messages each.

On a local stack of its own whose SinchRatePerSecond is the simulator's limit (`--rate`, in
messages a second, as Sinch counts them), the same fictional numbers are sent twice:

1. the batch: one POST /v1/batches; the time to its 202, until GET /v1/batches/{id} counts every
   recipient handed to Sinch (`submitted` or further), and until it counts every one final;
2. the baseline: one POST /v1/messages per recipient, `--concurrency` clients at a time; the time
   until every POST was answered, until Sinch took the last message, and until all are final.

For each: the Sinch calls (XMS POST /batches: a batch needs one per 1,000 recipients at least),
every recipient seen at Sinch exactly once (counted in the simulator's request log over every call
it accepted, answers lost included: lost = never, doubled = more than once), DynamoDB item writes
per recipient (a BatchWriteItem of 25 items is 25 writes; devstack.aws_calls records them so),
and what a million recipients cost (devstack.cost). Times run from the first POST; the GET polls
are left out of the cost (their reads are not).

    python -m devstack.bench_batches [--recipients 10000] [--rate 1000] [--out FILE]

In a process of its own (moto's backends are per process). Development only.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack.bench_fairness import _calls_dir
from devstack.bench_rate import (
    _aws_calls,
    _log_figures,
    _log_sizes,
    _per_function,
    _settle,
    fresh_stack,
    usage_per,
)
from devstack.cost import cost_per_million
from devstack.fault_suite import FINAL, _http
from devstack.fictional import MAX_NUMBERS, fictional_numbers

TEXT = "Your parcel is on its way"
SINCH_MAX_RECIPIENTS = 1_000  # per XMS /batches call: Sinch's limit on `to`
NOT_YET_HANDED_OVER = frozenset({"accepted", "retrying"})
WARM = 16  # recipients of the warm-up batch, and single messages to warm the workers
# Each message's settle check waits past the bench (devstack.cost prices it apart): one part's
# checks must not land in the other's counts.
QUIET_SETTLE_CHECKS = {"ReportGraceSeconds": "86400"}


class BatchApiMissing(RuntimeError):
    """The stack answers no batch API: the bench cannot run on it."""


# --- the arithmetic ---------------------------------------------------------------------------------


def progress(counts: Mapping[str, int]) -> tuple[int, int]:
    """(recipients handed to Sinch or ended, recipients final) from GET /v1/batches/{id} counts."""
    handed = sum(n for status, n in counts.items() if status not in NOT_YET_HANDED_OVER)
    final = sum(n for status, n in counts.items() if status in FINAL)
    return handed, final


def _number(to: str) -> str:
    return "+" + to.removeprefix("+")


def _accepted_sends(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """XMS POST /batches calls Sinch accepted (201), those whose answer was lost included."""
    return [
        r
        for r in requests
        if r["method"] == "POST"
        and r["path"].endswith("/batches")
        and (r.get("response") or {}).get("status") == 201
        and isinstance(r.get("body"), dict)
    ]


def sinch_figures(requests: list[dict[str, Any]], numbers: list[str], started: float) -> dict[str, Any]:
    """From the simulator's request log: calls, answers, and each recipient seen exactly once."""
    sends = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/batches")]
    accepted = _accepted_sends(requests)
    seen = Counter(_number(to) for r in accepted for to in r["body"].get("to") or [])
    expected = {_number(n) for n in numbers}
    last = max((_epoch(r["at"]) for r in accepted), default=None)
    return {
        "calls": len(sends),
        "answers": {
            str(k): v
            for k, v in sorted(Counter(r["response"]["status"] for r in sends if r.get("response")).items())
        },
        "accepted_calls": len(accepted),
        "lookups": sum(1 for r in requests if r["method"] == "GET" and "/delivery_report/" in r["path"]),
        "most_recipients_in_a_call": max((len(r["body"].get("to") or []) for r in accepted), default=0),
        "lost": len(expected - set(seen)),
        "doubled": sum(1 for n, times in seen.items() if n in expected and times > 1),
        "unexpected": sum(1 for n in seen if n not in expected),
        "last_taken_s": round(last - started, 2) if last is not None else None,
    }


def _epoch(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def without_polls(usage: dict[str, Any], polls: int, recipients: int) -> dict[str, Any]:
    """The usage figures less the GET /v1/batches/{id} polls' invocations of SendFunction (the
    bench's own watching, not the batch's cost; their DynamoDB reads stay in)."""
    invocations = dict(usage["invocations_per_delivered"])
    if "SendFunction" in invocations:
        invocations["SendFunction"] = round(
            max(0.0, invocations["SendFunction"] - polls / max(1, recipients)), 3
        )
    return {**usage, "invocations_per_delivered": invocations}


def rows_of(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures as devstack.bench's rows (its Row's fields), the batch beside the baseline."""
    batch, single = figures["batch"], figures["single"]
    n, m = figures["recipients"], figures["baseline_recipients"]
    baseline = f"{m:,} POST /v1/messages, {figures['concurrency']} clients"
    section = "batches"
    return [
        {
            "section": section,
            "name": f"{n:,}-recipient batch: its 202",
            "value": batch["post_s"],
            "unit": "s",
            "baseline": single["post_s"],
            "baseline_name": f"{baseline}: all answered",
            "extra": {"single POST p50 s": single["post_p50_s"], "refused": float(batch["refused"])},
        },
        {
            "section": section,
            "name": f"{n:,}-recipient batch: all submitted (GET /v1/batches/{{id}})",
            "value": batch["submitted_s"],
            "unit": "s",
            "baseline": single["sinch"]["last_taken_s"],
            "baseline_name": f"{baseline}: the last taken by Sinch",
            "extra": {
                "batch's last taken by Sinch s": batch["sinch"]["last_taken_s"],
                "plan's rate /s": figures["rate_per_s"],
            },
        },
        {
            "section": section,
            "name": f"{n:,}-recipient batch: all final",
            "value": batch["final_s"],
            "unit": "s",
            "baseline": single["final_s"],
            "baseline_name": f"{baseline}: all final",
        },
        {
            "section": section,
            "name": f"{n:,}-recipient batch: Sinch calls",
            "value": float(batch["sinch"]["calls"]),
            "unit": "",
            "baseline": float(single["sinch"]["calls"]),
            "baseline_name": baseline,
            "extra": {
                "floor": float(math.ceil(n / SINCH_MAX_RECIPIENTS)),
                "most recipients in a call": float(batch["sinch"]["most_recipients_in_a_call"]),
                "lost": float(batch["sinch"]["lost"]),
                "doubled": float(batch["sinch"]["doubled"]),
                "baseline lost": float(single["sinch"]["lost"]),
                "baseline doubled": float(single["sinch"]["doubled"]),
                "429s": float(batch["sinch"]["answers"].get("429", 0)),
            },
        },
        {
            "section": section,
            "name": "DynamoDB item writes per recipient, batch",
            "value": round(sum(batch["usage"]["dynamodb_writes_per_delivered"].values()), 3),
            "unit": "",
            "baseline": round(sum(single["usage"]["dynamodb_writes_per_delivered"].values()), 3),
            "baseline_name": baseline,
            "extra": {k: float(v) for k, v in batch["usage"]["dynamodb_writes_per_delivered"].items()},
        },
        {
            "section": section,
            "name": "USD per 1M recipients, batch",
            "value": batch["cost"]["total_usd_per_million"],
            "unit": "USD",
            "baseline": single["cost"]["total_usd_per_million"],
            "baseline_name": baseline,
            "extra": {k: float(v) for k, v in batch["cost"]["usd_per_million"].items()},
        },
    ]


# --- the measurement --------------------------------------------------------------------------------


def _phase(
    state: dict[str, Any], numbers: list[str], rate: float, send: Callable[[float], dict[str, Any]]
) -> dict[str, Any]:
    """`send(started)` on a simulator just reset (its limit `rate`), with the AWS calls, log
    bytes and Sinch calls it caused counted per recipient."""
    sim = state["sinch_url"].rstrip("/")
    logs_dir = Path(state["logs_dir"]) if state.get("logs_dir") else None
    _http("POST", f"{sim}/_sim/reset")
    _http("POST", f"{sim}/_sim/config", {"rate_limit": rate})
    calls_before, logs_before = _aws_calls(_calls_dir()), _log_sizes(logs_dir)
    started = time.time()
    timings = send(started)
    _, requests = _http("GET", f"{sim}/_sim/requests")
    calls = _per_function(_aws_calls(_calls_dir()), calls_before)
    usage = usage_per(calls, _log_figures(logs_dir, logs_before), len(numbers))
    priced = without_polls(usage, timings.get("polls", 0), len(numbers))
    return {
        **timings,
        "sinch": sinch_figures(requests if isinstance(requests, list) else [], numbers, started),
        "usage": usage,
        "cost": cost_per_million(priced),
    }


def post_batch(state: dict[str, Any], numbers: list[str], reference: str) -> tuple[str, int, int]:
    """POST /v1/batches: (batch id, recipients taken, refused); BatchApiMissing when there is none."""
    api, key = state["api_url"].rstrip("/"), state["api_key"]
    status, answer = _http(
        "POST", f"{api}/v1/batches", {"to": numbers, "text": TEXT, "clientReference": reference}, key
    )
    if status in (403, 404, 405):  # API Gateway's and the gateway's answers for a route it lacks
        raise BatchApiMissing(
            f"POST /v1/batches answered {status}: {str(answer)[:200]}. This stack has no batch API yet: "
            "the bench needs POST and GET /v1/batches (the intake) and the fan-out of their slices "
            "to Sinch merged first."
        )
    if status != 202 or not isinstance(answer, dict) or "id" not in answer:
        raise RuntimeError(f"POST /v1/batches answered {status}: {str(answer)[:500]}")
    return str(answer["id"]), int(answer.get("recipients", len(numbers))), len(answer.get("refused") or [])


def watch_batch(
    state: dict[str, Any],
    batch_id: str,
    recipients: int,
    started: float,
    *,
    timeout_s: float,
    poll_s: float = 0.5,
) -> dict[str, Any]:
    """Poll GET /v1/batches/{id} until it counts every recipient final (or the time is up)."""
    api, key = state["api_url"].rstrip("/"), state["api_key"]
    deadline = time.monotonic() + timeout_s
    submitted_s = final_s = None
    polls, counts = 0, {}
    while time.monotonic() < deadline:
        status, view = _http("GET", f"{api}/v1/batches/{batch_id}", key=key)
        polls += 1
        if status == 200 and isinstance(view, dict) and isinstance(view.get("counts"), dict):
            counts = view["counts"]
            handed, final = progress(counts)
            now = round(time.time() - started, 2)
            if submitted_s is None and handed >= recipients:
                submitted_s = now
            if final >= recipients:
                final_s = now
                break
        elif status == 404 and polls == 1:
            raise BatchApiMissing(
                f"GET /v1/batches/{batch_id} answered 404: this stack has no batch view yet"
            )
        time.sleep(poll_s)
    return {"submitted_s": submitted_s, "final_s": final_s, "polls": polls, "counts": counts}


def measure_batch(state: dict[str, Any], numbers: list[str], rate: float, timeout_s: float) -> dict[str, Any]:
    def send(started: float) -> dict[str, Any]:
        batch_id, taken, refused = post_batch(state, numbers, f"bench-batch-{int(started * 1000)}")
        post_s = round(time.time() - started, 3)
        return {"post_s": post_s, "batch_id": batch_id, "taken": taken, "refused": refused} | watch_batch(
            state, batch_id, taken, started, timeout_s=timeout_s
        )

    return _phase(state, numbers, rate, send)


def post_singles(
    state: dict[str, Any], numbers: list[str], reference: str, concurrency: int
) -> tuple[list[str], list[float], Counter[int]]:
    """One POST /v1/messages per number: (ids accepted, each POST's seconds, answers by status)."""
    api, key = state["api_url"].rstrip("/"), state["api_key"]

    def post(to: str) -> tuple[int, str | None, float]:
        began = time.monotonic()
        status, answer = _http(
            "POST", f"{api}/v1/messages", {"to": to, "text": TEXT, "clientReference": reference}, key
        )
        accepted = status == 202 and isinstance(answer, dict)
        return status, str(answer["id"]) if accepted else None, time.monotonic() - began

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(post, numbers))
    return [i for _, i, _ in results if i], [s for _, _, s in results], Counter(s for s, _, _ in results)


def measure_singles(
    state: dict[str, Any], numbers: list[str], rate: float, concurrency: int, timeout_s: float
) -> dict[str, Any]:
    def send(started: float) -> dict[str, Any]:
        reference = f"bench-single-{int(started * 1000)}"
        ids, seconds, answers = post_singles(state, numbers, reference, concurrency)
        post_s = round(time.time() - started, 3)
        messages = _settle(state, reference, len(ids), timeout_s)
        done = len(messages) >= len(ids) and all(m["status"] in FINAL for m in messages.values())
        return {
            "post_s": post_s,
            "post_p50_s": round(statistics.median(seconds), 3) if seconds else None,
            "api_answers": {str(k): v for k, v in sorted(answers.items())},
            "taken": len(ids),
            "final_s": round(time.time() - started, 2) if done else None,
            "final": dict(Counter(m["status"] for m in messages.values())),
        }

    return _phase(state, numbers, rate, send)


def warm(state: dict[str, Any], timeout_s: float) -> None:
    """Every function's workers warmed on both paths (cold starts are another bench's), and the
    batch API found, before anything is counted."""
    stamp = int(time.time() * 1000)
    numbers = fictional_numbers(WARM)
    batch_id, taken, _ = post_batch(state, numbers, f"bench-warm-batch-{stamp}")
    ids, _, _ = post_singles(state, numbers, f"bench-warm-{stamp}", WARM)
    _settle(state, f"bench-warm-{stamp}", len(ids), timeout_s)
    watch_batch(state, batch_id, taken, time.time(), timeout_s=timeout_s)


def measure(
    state: dict[str, Any],
    *,
    recipients: int,
    baseline_recipients: int,
    rate: float,
    concurrency: int,
    timeout_s: float,
) -> dict[str, Any]:
    warm(state, timeout_s)
    batch = measure_batch(state, fictional_numbers(recipients), rate, timeout_s)
    single = measure_singles(state, fictional_numbers(baseline_recipients), rate, concurrency, timeout_s)
    return {
        "recipients": recipients,
        "baseline_recipients": baseline_recipients,
        "rate_per_s": rate,
        "concurrency": concurrency,
        "batch": batch,
        "single": single,
    }


def ok(figures: dict[str, Any]) -> bool:
    """Every recipient final, and seen at Sinch exactly once, in both parts."""
    return all(
        figures[part]["final_s"] is not None
        and figures[part]["sinch"]["lost"] == 0
        and figures[part]["sinch"]["doubled"] == 0
        for part in ("batch", "single")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000, help=f"of the batch (1 to {MAX_NUMBERS:,})")
    parser.add_argument("--baseline-recipients", type=int, help="sent one POST each (default: as many)")
    parser.add_argument("--rate", type=float, default=1000.0, help="the plan's rate: Sinch messages a second")
    parser.add_argument("--concurrency", type=int, default=16, help="clients posting the baseline")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds each part may take to settle")
    parser.add_argument("--out", type=Path, help="also write the figures there, as JSON")
    parser.add_argument("--state", type=Path, help="keep the stack's state and logs there")
    args = parser.parse_args(argv)
    baseline = args.recipients if args.baseline_recipients is None else args.baseline_recipients
    if not (1 <= args.recipients <= MAX_NUMBERS and 1 <= baseline <= MAX_NUMBERS):
        parser.error(f"--recipients and --baseline-recipients must be 1 to {MAX_NUMBERS:,}")
    with fresh_stack(args.rate, args.state, parameters=QUIET_SETTLE_CHECKS) as stack:
        try:
            figures = measure(
                stack.state(),
                recipients=args.recipients,
                baseline_recipients=baseline,
                rate=args.rate,
                concurrency=args.concurrency,
                timeout_s=args.timeout,
            )
        except BatchApiMissing as missing:
            print(f"bench_batches: {missing}", file=sys.stderr)
            return 2
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(figures), encoding="utf-8")
    return 0 if ok(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
