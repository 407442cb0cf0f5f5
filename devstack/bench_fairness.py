"""Each tenant's fair share of Sinch's rate: what tenant B sees while tenant A floods, beside B alone.

On a stack of its own whose SinchRatePerSecond is the simulator's limit (the plan's rate):

1. B alone: B's messages one at a time, well below the rate (how long each takes from its POST to
   reaching Sinch), then B pushing past the rate for a while (the rate B's messages reach Sinch).
2. The same while A posts at `flood` times the plan's rate, all along: B's time to reach Sinch and
   B's rate (about half the plan's with two tenants sending, not what is left after A's backlog),
   the plan's rate used and the share of Sinch calls answered 429 while A's backlog lasts.
3. DynamoDB writes per delivered SMS in each part: once A stops, its backlog drains at the plan's
   rate (every message counted, its waits included).

Times to Sinch run from the client's POST to the simulator's log of the batch call (one machine,
one clock). `python -m devstack.bench_fairness` runs it on a stack of its own and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack import aws_calls
from devstack.bench_rate import WRITES, _aws_calls, _settle, fresh_stack
from devstack.fault_suite import _http


@dataclass
class Tenant:
    """A tenant of the stack, as the bench posts for it."""

    name: str
    key: str
    key_id: str
    posted: dict[str, float] = field(default_factory=dict)  # message id -> when its POST began
    answered: dict[str, float] = field(default_factory=dict)  # message id -> when the API answered
    references: dict[str, str] = field(default_factory=dict)  # message id -> its clientReference

    def post(self, api: str, reference: str, text: str) -> str | None:
        began = time.time()
        body = {"to": "+12025550143", "text": text, "clientReference": reference}
        status, answer = _http("POST", f"{api}/v1/messages", body, self.key)
        if status != 202 or not isinstance(answer, dict):
            return None
        message_id = str(answer["id"])
        self.posted[message_id], self.references[message_id] = began, reference
        self.answered[message_id] = time.time()
        return message_id

    def ids(self, reference: str) -> set[str]:
        return {i for i, r in self.references.items() if r == reference}


def tenants(state: dict[str, Any]) -> tuple[Tenant, Tenant]:
    """The stack's first two tenants: A (acme) and B (globex)."""
    first, second = state["tenants"][:2]
    return (
        Tenant(first["name"], first["api_key"], first["api_key_id"]),
        Tenant(second["name"], second["api_key"], second["api_key_id"]),
    )


def reached_sinch(sinch_url: str) -> list[tuple[str, float, int]]:
    """Each XMS batch call in the simulator's log, in order: (our message id, when, answer)."""
    _, requests = _http("GET", f"{sinch_url.rstrip('/')}/_sim/requests")
    calls = []
    for request in requests if isinstance(requests, list) else []:
        body, response = request.get("body"), request.get("response")
        if (
            request["method"] == "POST"
            and "/batches" in request["path"]
            and response
            and isinstance(body, dict)
        ):
            at = datetime.fromisoformat(request["at"].replace("Z", "+00:00")).timestamp()
            calls.append((str(body.get("client_reference")), at, int(response["status"])))
    return calls


class Flood:
    """`tenant` posting `per_s` messages a second, as `workers` clients, until stopped."""

    def __init__(self, api: str, tenant: Tenant, per_s: float, reference: str, workers: int = 24) -> None:
        self._api, self._tenant, self._interval, self._reference = api, tenant, 1 / per_s, reference
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = self.stopped = 0.0

    def __enter__(self) -> Flood:
        self.started = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        self.stopped = time.time()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            self._pool.submit(self._tenant.post, self._api, self._reference, f"flood {n}")
            n += 1
            self._stop.wait(max(0.0, self.started + n * self._interval - time.time()))

    @property
    def posted_per_s(self) -> float:
        return len(self._tenant.ids(self._reference)) / max(1e-9, self.stopped - self.started)


def one_at_a_time(api: str, tenant: Tenant, count: int, every_s: float, reference: str) -> list[str]:
    """`count` messages, one every `every_s` seconds (well below the tenant's share)."""
    ids = []
    start = time.time()
    for n in range(count):
        time.sleep(max(0.0, start + n * every_s - time.time()))
        message_id = tenant.post(api, reference, f"one at a time {n}")
        if message_id:
            ids.append(message_id)
    return ids


def pushing(
    api: str, tenant: Tenant, seconds: float, reference: str, workers: int = 8
) -> tuple[float, float]:
    """`workers` clients posting as fast as they are answered for `seconds`; the window's ends."""
    start = time.time()

    def client(n: int) -> None:
        while time.time() < start + seconds:
            tenant.post(api, reference, f"push {n}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(client, range(workers)))
    return start, time.time()


def to_sinch_ms(tenant: Tenant, ids: list[str], calls: list[tuple[str, float, int]]) -> list[float]:
    """Each message's time from its POST to its batch call Sinch accepted."""
    reached = {message_id: at for message_id, at, status in calls if status == 201}
    return [(reached[i] - tenant.posted[i]) * 1000 for i in ids if i in reached]


def rate_at_sinch(ids: set[str], calls: list[tuple[str, float, int]], start: float, end: float) -> float:
    """Batches of `ids` Sinch accepted per second within [start, end)."""
    return sum(1 for i, at, status in calls if i in ids and status == 201 and start <= at < end) / (
        end - start
    )


def writes_per_delivered(
    state: dict[str, Any], sent: list[tuple[Tenant, str]], before: dict[str, int], timeout_s: float
) -> float:
    """DynamoDB writes since `before` (every function, every kind of item) per SMS delivered among
    the messages each tenant `sent` with a reference, all of them settled first."""
    delivered = 0
    for tenant, reference in sent:
        messages = settled(state, tenant, reference, len(tenant.ids(reference)), timeout_s)
        delivered += sum(1 for m in messages.values() if m["status"] == "delivered")
    writes = sum(
        1
        for records in _new_calls(before).values()
        for record in records
        if record["action"].partition(":")[2] in WRITES and record["action"].startswith("dynamodb:")
    )
    return writes / max(1, delivered)


def _calls_dir() -> Path | None:
    return Path(os.environ[aws_calls.ENV]) if os.environ.get(aws_calls.ENV) else None


def _snapshot() -> dict[str, int]:
    return {name: len(records) for name, records in _aws_calls(_calls_dir()).items()}


def _new_calls(before: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    return {name: records[before.get(name, 0) :] for name, records in _aws_calls(_calls_dir()).items()}


def settled(
    state: dict[str, Any], tenant: Tenant, reference: str, expected: int, timeout_s: float
) -> dict[str, dict[str, Any]]:
    return _settle({**state, "api_key_id": tenant.key_id}, reference, expected, timeout_s)


def measure_fairness(
    state: dict[str, Any],
    *,
    rate: float,
    flood: float = 10.0,
    probes: int = 6,
    push_s: float = 8.0,
    drain_timeout_s: float = 600.0,
) -> dict[str, Any]:
    """The figures, against the stack `state` (deployed with SinchRatePerSecond=rate)."""
    api, sim = state["api_url"].rstrip("/"), state["sinch_url"].rstrip("/")
    a, b = tenants(state)
    stamp = int(time.time() * 1000)
    # Warm both tenants' workers: cold starts are the cold-start benchmark's, not this one's.
    for tenant in (a, b):
        warm = [tenant.post(api, f"fair-warm-{stamp}", "warm") for _ in range(4)]
        settled(state, tenant, f"fair-warm-{stamp}", sum(1 for w in warm if w), 120)
    _http("POST", f"{sim}/_sim/reset")
    _http("POST", f"{sim}/_sim/config", {"rate_limit": rate})
    every_s = 4 / rate  # a quarter of the plan's rate: well below B's half of it

    quiet = f"fair-quiet-{stamp}"
    before = _snapshot()
    alone_ids = one_at_a_time(api, b, probes, every_s, quiet)
    alone_push = pushing(api, b, push_s, quiet)
    quiet_writes = writes_per_delivered(state, [(b, quiet)], before, drain_timeout_s)

    loud = f"fair-flood-{stamp}"
    before = _snapshot()
    with Flood(api, a, flood * rate, loud) as flooding:
        backlog_s = min(3.0, 12 / rate)
        time.sleep(backlog_s)  # A's backlog builds first
        flood_ids = one_at_a_time(api, b, probes, every_s, loud)
        flood_push = pushing(api, b, push_s, loud)
    calls = reached_sinch(sim)  # before the drain: the flood's own window
    flood_writes = writes_per_delivered(state, [(a, loud), (b, loud)], before, drain_timeout_s)
    _http("POST", f"{sim}/_sim/config", {"rate_limit": None})

    b_push_alone = b.ids(quiet) - set(alone_ids)
    b_push_flood = b.ids(loud) - set(flood_ids)
    a_ids = a.ids(loud)
    start, end = flood_push[0] + 2, flood_push[1]  # B's first messages take a moment to arrive
    # The plan's use is counted over all of A's flood once its backlog has built (B's probes and
    # push included): at 2 calls a second, B's push alone is too few slots to tell 95 % from 90 %.
    busy_from, busy_to = flooding.started + backlog_s, flooding.stopped
    statuses = Counter(status for _, at, status in calls if busy_from <= at < busy_to)
    alone_ms = to_sinch_ms(b, alone_ids, calls)
    flood_ms = to_sinch_ms(b, flood_ids, calls)
    return {
        "rate_limit_per_s": rate,
        "flood_factor": flood,
        "a_posted_per_s": round(flooding.posted_per_s, 2),
        "b_to_sinch_ms_alone": _quantiles(alone_ms),
        "b_to_sinch_ms_flood": _quantiles(flood_ms),
        "b_probes_reached": [len(alone_ms), len(flood_ms), probes],
        # How long the API took to answer B's probes: a busy machine, not the rate.
        "b_answer_ms_alone": _quantiles([(b.answered[i] - b.posted[i]) * 1000 for i in alone_ids]),
        "b_answer_ms_flood": _quantiles([(b.answered[i] - b.posted[i]) * 1000 for i in flood_ids]),
        "b_rate_alone_per_s": round(rate_at_sinch(b_push_alone, calls, alone_push[0] + 2, alone_push[1]), 2),
        "b_rate_flood_per_s": round(rate_at_sinch(b_push_flood, calls, start, end), 2),
        "a_rate_flood_per_s": round(rate_at_sinch(a_ids, calls, start, end), 2),
        "rate_used_flood": round(statuses[201] / (busy_to - busy_from) / rate, 4),
        "rate_used_seconds": round(busy_to - busy_from, 1),
        "sinch_429_share_flood": round(statuses[429] / max(1, sum(statuses.values())), 4),
        "dynamodb_writes_per_delivered_alone": round(quiet_writes, 2),
        "dynamodb_writes_per_delivered_flood": round(flood_writes, 2),
    }


def _quantiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50": 0.0, "p95": 0.0}
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2.0, help="the plan's rate, calls per second")
    parser.add_argument("--flood", type=float, default=10.0, help="A's rate, in multiples of the plan's")
    parser.add_argument("--probes", type=int, default=6, help="B's messages sent one at a time, per part")
    parser.add_argument("--push-seconds", type=float, default=8.0, help="how long B pushes, per part")
    parser.add_argument("--out", type=Path, help="also write the figures there, as JSON")
    parser.add_argument("--state", type=Path, help="keep the stack's state and logs there")
    args = parser.parse_args(argv)
    # SendFunction's workers are its concurrency: enough for A's flood and B's clients.
    with fresh_stack(args.rate, args.state, pool_size=12) as stack:
        figures = measure_fairness(
            stack.state(), rate=args.rate, flood=args.flood, probes=args.probes, push_s=args.push_seconds
        )
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(figures), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
