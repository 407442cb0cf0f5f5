"""Status callback fairness: tenant B's callback latency while tenant A's receivers are broken,
beside B's latency with A quiet, from the same run on the same stack.

B's latency is what B waits for: from a status change of B's message (the callback's `at`, the
time the gateway recorded the status) to B's receiver getting the POST. B sends `messages` SMS
one after another, each with its statusCallbackUrl, and every callback of each counts, up to the
final status. Then A sends `hanging` SMS whose receiver accepts connections and never answers and
`failing` SMS whose receiver answers 500; once those are final (A's sending is over, its
callbacks' retries go on), B does the same again while A's callbacks are pending (CallbackQueue's
depth, measured at both ends of B's run, says how many).

`measure(stack, ...)` measures a running in-process stack; `python -m devstack.bench_callbacks`
starts a stack of its own (the callbacks A leaves behind would hold on to any other) and writes
the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack import aws
from devstack.callback_receiver import CallbackReceiver
from devstack.fault_suite import FINAL, _http

if TYPE_CHECKING:
    from devstack.stack import LocalStack

SMS = {"to": "+12025550143", "text": "Your parcel is on its way"}


@contextlib.contextmanager
def dedicated_stack() -> Iterator[LocalStack]:
    """A local stack of its own on free ports: tenant A's broken receivers leave callbacks pending
    (and receivers held) for a day, which must not reach a shared stack's other tests."""
    from devstack.stack import LocalStack, StackConfig

    with (
        tempfile.TemporaryDirectory(prefix="bench-callbacks-") as state,
        LocalStack(StackConfig.on_free_ports(Path(state), tracing=False), log=lambda line: None) as stack,
    ):
        yield stack


def send(stack: LocalStack, tenant: int, url: str, reference: str) -> str:
    """An SMS of the tenant with `url` as its statusCallbackUrl; its id."""
    body = {**SMS, "clientReference": reference, "statusCallbackUrl": url}
    status, answer = _http("POST", f"{stack.api_url}/v1/messages", body, stack.tenants[tenant].api_key)
    if status != 202 or not isinstance(answer, dict):
        raise RuntimeError(f"the send was answered {status}: {answer}")
    return str(answer["id"])


def statuses(stack: LocalStack, tenant: int, message_id: str) -> list[str]:
    """The statuses a message went through, in order, as GET shows them (stale reports left out)."""
    _, answer = _http("GET", f"{stack.api_url}/v1/messages/{message_id}", None, stack.tenants[tenant].api_key)
    return list(dict.fromkeys(e["status"] for e in answer["events"] if not e.get("stale")))


def wait_for_final(
    stack: LocalStack, tenant: int, receiver: CallbackReceiver, ids: list[str], timeout_s: float
) -> dict[str, list[dict[str, Any]]]:
    """Each message's callbacks once every one has reached its receiver (or the time is up)."""
    deadline = time.monotonic() + timeout_s

    def arrived(got: list[dict[str, Any]]) -> bool:
        final = {c["id"] for c in got if c["status"] in FINAL}
        return final >= set(ids) or time.monotonic() > deadline

    receiver.wait_for(arrived, timeout_s)
    by_message: dict[str, list[dict[str, Any]]] = {message_id: [] for message_id in ids}
    for callback in receiver.callbacks():
        by_message.get(callback["id"], []).append(callback)
    expected = {message_id: statuses(stack, tenant, message_id) for message_id in ids}
    while time.monotonic() < deadline and any(
        [c["status"] for c in by_message[m]] != expected[m] for m in ids
    ):  # a last callback may still be on its way
        time.sleep(0.1)
        for m in ids:
            by_message[m] = [c for c in receiver.callbacks() if c["id"] == m]
    return by_message


def latencies_ms(receiver: CallbackReceiver, ids: set[str]) -> list[float]:
    """For each callback of these messages: its status change to its arrival."""
    return [
        (r.at - datetime.fromisoformat(r.callback["at"]).timestamp()) * 1000
        for r in receiver.received
        if r.callback["id"] in ids
    ]


def tenant_b_run(stack: LocalStack, messages: int, interval_s: float, label: str) -> tuple[list[float], bool]:
    """B sends `messages` SMS `interval_s` apart; the latency of each of their callbacks, and
    whether every message's callbacks all came, in order."""
    with CallbackReceiver() as receiver:
        ids = []
        for n in range(messages):
            ids.append(send(stack, 1, receiver.url, f"{label}-{n}"))
            time.sleep(interval_s)
        got = wait_for_final(stack, 1, receiver, ids, timeout_s=120)
        complete = all([c["status"] for c in got[m]] == statuses(stack, 1, m) for m in ids)
        return latencies_ms(receiver, set(ids)), complete


def pending_callbacks(stack: LocalStack) -> int:
    """Callbacks on CallbackQueue, waiting or in flight."""
    assert stack.template is not None and stack.resources is not None
    sqs = aws.client("sqs", stack.aws_endpoint_url, stack.template.region)
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.resources.queues["CallbackQueue"].url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


@contextlib.contextmanager
def tenant_a_broken(
    stack: LocalStack, hanging: int, failing: int, timeout_s: float = 120
) -> Iterator[tuple[CallbackReceiver, CallbackReceiver]]:
    """Tenant A with `hanging` SMS whose receiver never answers and `failing` whose receiver
    answers 500, sent at once; yields once A's messages are final (their sending is over: what
    goes on is their callbacks' retries), and the receivers run until the block ends."""
    with CallbackReceiver() as hangs, CallbackReceiver() as fails:
        hangs.hang = True
        fails.status = 500
        urls = [hangs.url] * hanging + [fails.url] * failing
        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(lambda n: send(stack, 0, urls[n], f"broken-{n}"), range(len(urls))))
        deadline = time.monotonic() + timeout_s
        for message_id in ids:
            while statuses(stack, 0, message_id)[-1] not in FINAL and time.monotonic() < deadline:
                time.sleep(0.2)
        yield hangs, fails


def measure(
    stack: LocalStack, *, messages: int = 20, hanging: int = 40, failing: int = 10, interval_s: float = 0.5
) -> dict[str, Any]:
    """B's callback latency with A quiet, then with A's receivers broken; the figures as a dict."""
    tenant_b_run(stack, 2, 0.0, "warm")  # cold starts are the cold-start benchmark's
    quiet, quiet_complete = tenant_b_run(stack, messages, interval_s, "quiet")
    with tenant_a_broken(stack, hanging, failing) as (hangs, fails):
        pending_before = pending_callbacks(stack)
        loaded, loaded_complete = tenant_b_run(stack, messages, interval_s, "loaded")
        pending_after = pending_callbacks(stack)
        a_posts = {"hung": hangs.hung, "answered_500": fails.refused}
    return {
        "messages": messages,
        "hanging": hanging,
        "failing": failing,
        "quiet_ms": summary(quiet),
        "a_broken_ms": summary(loaded),
        "ratio_p50": statistics.median(loaded) / statistics.median(quiet),
        "ratio_p95": percentile(loaded, 95) / percentile(quiet, 95),
        "b_complete_and_in_order": quiet_complete and loaded_complete,
        "a_pending_callbacks": {"before": pending_before, "after": pending_after},
        "a_posts": a_posts,
    }


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "count": len(samples),
        "p50": statistics.median(samples),
        "p95": percentile(samples, 95),
        "max": max(samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20, help="B's SMS in each of its two runs")
    parser.add_argument("--hanging", type=int, default=40, help="A's SMS to the receiver that never answers")
    parser.add_argument("--failing", type=int, default=10, help="A's SMS to the receiver that answers 500")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON (else print them)")
    args = parser.parse_args(argv)
    with dedicated_stack() as stack:
        figures = measure(stack, messages=args.messages, hanging=args.hanging, failing=args.failing)
    text = json.dumps(figures, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
