"""Sinch's delivery reports while junk floods the webhook route from one address.

On a stack of its own, whose per-address webhook limit (`WebhookAddressLimit`, per minute) the
flood passes within its first second, SMS are sent through the API twice, each answered by a
signed delivery report the simulator sends from its own address (127.0.0.2): once quiet, once
while `senders` clients on 127.0.0.1 POST unsigned junk to the delivery-report route as fast as
they can for `seconds`. From the simulator's own record of its callback attempts: the share of
reports answered 200 on their first try, the reports it had to send again, and how long the first
try waited for its answer (p50, p95); from the junk clients: their answers by status, and the
headers of a refusal.

`measure(...)` returns the figures; `python -m devstack.bench_webhooks` prints them (`make bench`
runs it through devstack/bench.py). The junk clients run in a process of their own, as an
attacker's would: in the stack's process they would hold its interpreter lock as well.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devstack.fault_suite import _http
from devstack.stack import HOST, LocalStack, StackConfig

REPORTS = "/v1/webhooks/sinch/delivery-reports"
JUNK = b'{"type": "recipient_delivery_report_sms", "batch_id": "junk", "status": "Delivered"}'
PHONE = "+12025550143"
# Low enough that the flood passes it at once, high enough for every genuine report of a run.
LIMIT_PER_MINUTE = 100


@contextmanager
def webhook_stack(limit_per_minute: int = LIMIT_PER_MINUTE) -> Iterator[LocalStack]:
    """A stack of its own (its own name: moto keeps every stack of a process) on free ports."""
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as state_dir:
        config = StackConfig(
            state_dir=Path(state_dir),
            api_port=0,
            aws_port=0,
            sinch_port=0,
            stack_name="sinch-gateway-webhooks",
            log_prefix=False,
            report=False,
            access_log=False,
            tracing=False,
            parameter_overrides={
                "WebhookAddressLimit": str(limit_per_minute),
                "WebhookAddressWindowSeconds": "60",
            },
        )
        with LocalStack(config, log=lambda line: None) as stack:
            yield stack


def flood(api_url: str, senders: int, seconds: float, results: Any) -> None:
    """`senders` clients on HOST POSTing junk to the delivery-report route for `seconds`; puts
    their answers by status and one refusal's headers on `results` (a multiprocessing queue)."""
    host, port = api_url.removeprefix("http://").split(":")
    statuses: Counter[int] = Counter()
    refusal: dict[str, str] = {}
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def sender() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(HOST, 0))
        while time.monotonic() < until:
            try:
                connection.request("POST", REPORTS, JUNK, {"Content-Type": "application/json"})
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                continue
            with lock:
                statuses[answer.status] += 1
                if answer.status == 429 and not refusal:
                    refusal.update(answer.getheaders())
        connection.close()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put({"statuses": dict(statuses), "refusal_headers": refusal, "seconds": seconds})


def send_and_collect(
    stack: LocalStack, count: int, spread_s: float, timeout_s: float = 120
) -> dict[str, Any]:
    """Send `count` SMS over `spread_s` seconds; once each has its report, the simulator's record
    of the reports' attempts: first-try statuses, retries and first-try latencies."""
    api, key, sim = stack.api_url, stack.api_key, stack.sinch_url
    ids = set()
    for n in range(count):
        status, answer = _http("POST", f"{api}/v1/messages", {"to": PHONE, "text": f"report {n}"}, key)
        if status == 202 and isinstance(answer, dict):
            ids.add(str(answer["id"]))
        time.sleep(spread_s / max(1, count))
    deadline = time.monotonic() + timeout_s
    while True:
        _, log = _http("GET", f"{sim}/_sim/callbacks")
        attempts = [
            entry
            for entry in (log if isinstance(log, list) else [])
            if entry["url"].endswith(REPORTS)
            and isinstance(entry["body"], dict)
            and entry["body"].get("client_reference") in ids
        ]
        answered = {e["body"]["client_reference"] for e in attempts if e["status"] == 200}
        if answered >= ids or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    first = [e for e in attempts if e["attempt"] == 1]
    latencies = sorted(float(e["elapsed_ms"]) for e in first)
    return {
        "sent": len(ids),
        "reports": len(first),
        "first_try_200": sum(1 for e in first if e["status"] == 200),
        "first_try_statuses": dict(Counter(str(e["status"]) for e in first)),
        "retried": len({e["body"]["client_reference"] for e in attempts if e["attempt"] > 1}),
        "unanswered": len(ids - answered),
        "first_try_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "first_try_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
    }


def measure(
    stack: LocalStack, *, reports: int = 20, senders: int = 30, seconds: float = 10
) -> dict[str, Any]:
    """Reports quiet, then under the flood, on `stack` (see webhook_stack)."""
    assert stack.template is not None, "a running stack"
    send_and_collect(stack, 2, 0)  # the functions' cold starts are not this benchmark's
    quiet = send_and_collect(stack, reports, seconds * 0.8)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    junk = context.Process(target=flood, args=(stack.api_url, senders, seconds, results))
    junk.start()
    try:
        time.sleep(min(1.0, seconds / 10))  # the junk is under way before the first report
        flooded = send_and_collect(stack, reports, seconds * 0.8)
        junk_figures = results.get(timeout=seconds + 60)
    finally:
        junk.join(30)
        if junk.is_alive():
            junk.kill()
    return {
        "limit_per_minute": int(stack.template.parameters["WebhookAddressLimit"]),
        "senders": senders,
        "seconds": seconds,
        "sinch_source_address": stack.sinch_source,
        "quiet": quiet,
        "flood": flooded,
        "junk": junk_figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20, help="genuine reports in each phase")
    parser.add_argument("--senders", type=int, default=30, help="junk clients on one address")
    parser.add_argument("--seconds", type=float, default=10, help="how long the junk flood lasts")
    parser.add_argument(
        "--limit",
        type=int,
        default=LIMIT_PER_MINUTE,
        help="WebhookAddressLimit: requests a minute per address",
    )
    parser.add_argument("--out", type=Path, help="also write the figures there, as JSON")
    args = parser.parse_args(argv)
    with webhook_stack(args.limit) as stack:
        figures = measure(stack, reports=args.reports, senders=args.senders, seconds=args.seconds)
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(figures), encoding="utf-8")
    flooded = figures["flood"]
    return 0 if flooded["first_try_200"] == flooded["sent"] == flooded["reports"] else 1


if __name__ == "__main__":
    sys.exit(main())
