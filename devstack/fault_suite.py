"""The promise under injected faults: every accepted message reaches exactly one final status,
Sinch accepts at most one batch per message, and the caller's receiver gets each status change of
each message once, in order, signed.

Sends messages through the API and through SendQueue while the Sinch simulator fails in every
way it can (5xx, 429 with Retry-After, slow answers, dropped connections, answers lost after
accepting, duplicated and reordered delivery reports, other final statuses) and the messages' status
callback receiver answers some callbacks with a 500, waits for every message to settle (and its
callbacks to arrive), then counts. `make fault-suite N=10000` (or `python -m devstack.fault_suite
--count N`) runs it on a fresh local stack; tests/e2e/test_fault_suite.py runs it on a small count.

With `batches` (`--batches B --batch-size R`), B batches of R recipients each go through
POST /v1/batches among the messages, and Sinch's delivery reports of some XMS messages are
dropped too (their messages settle through the lookup at Sinch, ReportGraceSeconds after Sinch
took them: a stack with a short grace, as `--batches` starts). Every recipient's message must end
final, once, and Sinch must see each recipient once.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from devstack.aws import publisher
from devstack.callback_receiver import CallbackReceiver
from devstack.fictional import fictional_numbers
from sinch_gateway.domain.batches import recipient_message_id
from sinch_gateway.domain.status_callbacks import signature

FINAL = {"delivered", "failed", "expired", "rejected", "cancelled", "aborted", "deleted"}
RATE_LIMIT = 40  # requests per second per service plan
CALLBACK_FAILURE_RATE = 0.2  # the receiver's share of 500s
FAULTS: dict[str, Any] = {
    "seed": 7,
    "rules": [
        {"match": "batches", "status": 503, "probability": 0.25},
        {"match": "batches", "status": 429, "retry_after": 1, "probability": 0.05},
        {"match": "batches", "accept_then_drop": True, "probability": 0.05},
        {"match": "batches", "drop_connection": True, "probability": 0.03},
        {"match": "batches", "delay_ms": 2500, "probability": 0.02},  # past the read timeout
        {"match": "batch_lookup", "status": 503, "probability": 0.05},
        # The MMS JSON API: its throttling code, outages, and answers lost after it took the message.
        {"match": "mms_api", "status": 503, "probability": 0.2},
        {"match": "mms_api", "error_code": "E113", "probability": 0.05},
        {"match": "mms_api", "accept_then_drop": True, "probability": 0.05},
        {"match": "mms_api", "drop_connection": True, "probability": 0.03},
        {"match": "callbacks", "duplicate": 1, "reorder": True, "probability": 0.3},
        {"match": "callbacks", "final": "Failed", "probability": 0.03},
        {"match": "callbacks", "final": "Expired", "probability": 0.02},
        {"match": "callbacks", "final": "Rejected", "probability": 0.02},
        {"match": "callbacks", "delay_ms": 300, "probability": 0.1},
    ],
}
# With batches: some recipients' reports never come (XMS only: an MMS JSON API message whose
# postbacks are lost can only expire, days later). Checked first, so it takes its full share.
DROPPED_REPORTS = {"match": "callbacks", "api": "xms", "drop": True, "probability": 0.05}
BATCH_TEXT = "fault suite batch"
# Batch recipients' numbers: apart from the single messages' (+1 202 555 0143 and 0144).
BATCH_NUMBERS_FROM = 1000
BATCH_REPORT_GRACE_S = 5  # ReportGraceSeconds of a stack that drops reports


@dataclass
class Report:
    sent: int = 0
    refused: Counter[int] = field(default_factory=Counter)  # API answers other than 202, by status
    accepted: list[str] = field(default_factory=list)
    final: Counter[str] = field(default_factory=Counter)
    not_final: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    dead_letter_mismatch: list[str] = field(default_factory=list)
    final_messages: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    queue_left: int = 0
    seconds: float = 0.0
    # Every 5xx (or no answer at all, as 0) the gateway gave the suite, on any call.
    server_errors: Counter[int] = field(default_factory=Counter)
    # Status callbacks, against the statuses each message shows in GET (stale reports left out).
    callbacks: int = 0
    callbacks_refused: int = 0  # answered 500 by the receiver (and so sent again)
    callbacks_lost: list[str] = field(default_factory=list)  # "<id>:<status>"
    callbacks_doubled: list[str] = field(default_factory=list)
    callbacks_out_of_order: list[str] = field(default_factory=list)  # message ids, with both orders
    callbacks_badly_signed: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.not_final
            or self.lost
            or self.doubled
            or self.dead_letter_mismatch
            or self.queue_left
            or self.server_errors
            or self.callbacks_lost
            or self.callbacks_doubled
            or self.callbacks_out_of_order
            or self.callbacks_badly_signed
        )

    def summary(self) -> str:
        finals = ", ".join(f"{k} {v}" for k, v in sorted(self.final.items()))
        return (
            f"sent {self.sent}, refused by the API {dict(self.refused)}, accepted {len(self.accepted)}, "
            f"final {sum(self.final.values())} ({finals}); "
            f"lost {len(self.lost)}, doubled {len(self.doubled)}, not final {len(self.not_final)}, "
            f"dead-letter mismatches {len(self.dead_letter_mismatch)}, left on the queue {self.queue_left}, "
            f"5xx answers {dict(self.server_errors) or 0}; status callbacks {self.callbacks} "
            f"(receiver answered {self.callbacks_refused} with 500): lost {len(self.callbacks_lost)}, "
            f"doubled {len(self.callbacks_doubled)}, out of order {len(self.callbacks_out_of_order)}, "
            f"badly signed {self.callbacks_badly_signed}; {self.seconds:.0f} s"
        )


def _http(method: str, url: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    """(status, JSON or text); status 0 when no answer came at all."""
    headers = {"content-type": "application/json", **({"x-api-key": key} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (OSError, http.client.HTTPException) as error:
        return 0, str(error)
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass(frozen=True)
class Batches:
    """How many batches go among the messages, and how many recipients each has."""

    count: int = 0
    size: int = 25

    def numbers(self, n: int) -> list[str]:
        return fictional_numbers(self.size, start=BATCH_NUMBERS_FROM + n * self.size)

    @property
    def recipients(self) -> int:
        return self.count * self.size


def run(config: dict[str, Any], count: int, timeout_s: float = 600, batches: Batches = Batches()) -> Report:
    """Send `count` messages (a quarter through SendQueue), and `batches`, under FAULTS against the
    stack `config`, each with a status callback URL."""
    with CallbackReceiver(failure_rate=CALLBACK_FAILURE_RATE) as receiver:
        report = _run(config, count, timeout_s, receiver, batches)
        _check_callbacks(report, receiver, config, timeout_s)
    return report


def _run(
    config: dict[str, Any], count: int, timeout_s: float, receiver: CallbackReceiver, batches: Batches
) -> Report:
    api, key, sim = config["api_url"].rstrip("/"), config["api_key"], config["sinch_url"].rstrip("/")
    sqs = publisher(config)  # the first tenant's publisher: SendQueue takes its requests as that tenant's
    started = time.monotonic()
    report = Report()
    _http("POST", f"{sim}/_sim/reset")
    faults = {**FAULTS, "rules": [DROPPED_REPORTS, *FAULTS["rules"]]} if batches.count else FAULTS
    _http("POST", f"{sim}/_sim/faults", faults)
    # And Sinch's own per-plan rate limit on top: 429s the gateway must slow down for.
    _http("POST", f"{sim}/_sim/config", {"rate_limit": RATE_LIMIT})
    reference = f"fault-suite-{int(time.time())}"

    queued_reference = f"{reference}-queued"
    lock = threading.Lock()

    def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
        status, answer = _http(method, url, body, key if url.startswith(api) else None)
        if status == 0 or status >= 500:
            with lock:
                report.server_errors[status] += 1
        return status, answer

    def through_api(n: int) -> str | None:
        status, body = call(
            "POST", f"{api}/v1/messages", {**_message(n, reference), "statusCallbackUrl": receiver.url}
        )
        if status != 202:
            with lock:
                report.refused[status] += 1
            # A refused request can still have a record (e.g. 502 after Sinch refused our token).
            return body.get("messageId") if isinstance(body, dict) else None
        return str(body["id"])

    def through_queue(n: int) -> None:
        sqs.send_message(
            QueueUrl=config["send_queue_url"],
            MessageAttributes={"tenant": {"DataType": "String", "StringValue": config["api_key_id"]}},
            MessageBody=json.dumps(
                {
                    "to": "+12025550144",
                    "text": f"fault suite {n}",
                    "clientReference": queued_reference,
                    "idempotencyKey": f"{reference}-{n}",
                    "statusCallbackUrl": receiver.url,
                }
            ),
        )

    def batch(n: int) -> list[str]:
        """A batch's recipients' message ids (derived from the batch and each number)."""
        numbers = batches.numbers(n)
        body = {"to": numbers, "text": f"{BATCH_TEXT} {n}", "clientReference": f"{reference}-batch"}
        status, answer = call("POST", f"{api}/v1/batches", {**body, "statusCallbackUrl": receiver.url})
        if status != 202 or not isinstance(answer, dict):
            with lock:
                report.refused[status] += 1
            return []
        refused = {r["to"] for r in answer.get("refused") or []}
        return [recipient_message_id(answer["id"], to) for to in numbers if to not in refused]

    queued = count // 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        sent_batches = pool.map(batch, range(batches.count))  # among the messages, not after them
        ids = [i for i in pool.map(through_api, range(count - queued)) if i]
        list(pool.map(through_queue, range(queued)))
        batch_ids = [i for recipients in sent_batches for i in recipients]
    report.sent = count + batches.recipients
    messages = _settle(
        call, api, ids + batch_ids, queued_reference=queued_reference, queued=queued, timeout_s=timeout_s
    )
    _tally(report, call, api, messages, ids=ids, batch_ids=batch_ids, reference=reference, queued=queued)
    _http("POST", f"{sim}/_sim/faults", {"rules": []})
    _http("POST", f"{sim}/_sim/config", {"rate_limit": None})
    batch_numbers = {n for b in range(batches.count) for n in batches.numbers(b)}
    report.doubled = _doubled(sim, batch_numbers)
    report.dead_letter_mismatch = _dead_letter_mismatch(sqs, config["dead_letter_queue_url"], messages)
    # Each message Sinch took has one settle check waiting ReportGraceSeconds (15 minutes by
    # default) on SendQueue, by design: anything beyond those is left over.
    settle_checks = sum(1 for m in messages.values() if m.get("sinchId"))
    report.queue_left = _drained(sqs, config["send_queue_url"], timeout_s=120, expected=settle_checks)
    report.seconds = time.monotonic() - started
    report.final_messages = messages
    return report


def _tally(
    report: Report,
    call: Call,
    api: str,
    messages: dict[str, dict[str, Any]],
    *,
    ids: list[str],
    batch_ids: list[str],
    reference: str,
    queued: int,
) -> None:
    """What the gateway lost, and which messages are final, once all have settled."""
    # Once, at the end: everything the gateway lists, to find what it lost.
    listed_queued = _listing(call, api, f"{reference}-queued")
    listed = {**_listing(call, api, reference), **listed_queued}
    # A listing shows summaries: a message seen only there, or whose status moved since it was
    # read, is read whole again (its events, sinchId).
    moved = [i for i, m in listed.items() if i not in messages or messages[i]["status"] != m["status"]]
    for message_id in moved:
        status, body = call("GET", f"{api}/v1/messages/{message_id}")
        messages[message_id] = body if status == 200 and isinstance(body, dict) else listed[message_id]
    report.accepted = list(messages)
    report.lost = [i for i in ids if i not in listed] + ["(queued)"] * max(0, queued - len(listed_queued))
    # A batch recipient's message is made by the fan-out: one never found by its id is lost.
    report.lost += [i for i in batch_ids if i not in messages]
    for message_id, message in messages.items():
        if message["status"] in FINAL:
            report.final[message["status"]] += 1
        else:
            report.not_final.append(message_id)


def _drained(sqs: Any, queue_url: str, timeout_s: float, expected: int = 0) -> int:
    """What is still on the queue, beyond the `expected` records meant to wait there (settle
    checks), once it has had time to empty: a retry queued just before a report made its message
    final is still due, and is a no-op when it comes (counting at once made it look stuck). A run
    longer than the settle checks' delay sees some of them gone: never less than 0."""
    deadline = time.monotonic() + timeout_s
    while True:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        left = sum(
            int(attributes.get(a, 0))
            for a in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )
        if left <= expected or time.monotonic() > deadline:
            return max(0, left - expected)
        time.sleep(1)


def _check_callbacks(
    report: Report, receiver: CallbackReceiver, config: dict[str, Any], timeout_s: float
) -> None:
    """Wait for each message's callbacks up to its final status, then compare them with the statuses
    GET shows: each once, in that order, signed with the tenant's secret."""
    expected = {
        message_id: list(dict.fromkeys(e["status"] for e in message.get("events", []) if not e.get("stale")))
        for message_id, message in report.final_messages.items()
    }
    wanted = {f"{i}:{statuses[-1]}" for i, statuses in expected.items() if statuses}
    deadline = time.monotonic() + timeout_s
    while (
        not wanted <= {f"{c['id']}:{c['status']}" for c in receiver.callbacks()}
        and time.monotonic() < deadline
    ):
        time.sleep(1)
    secret = config["tenants"][0]["callback_secret"]
    received: dict[str, list[str]] = {}
    for callback in receiver.received:
        body = callback.callback
        received.setdefault(body["id"], []).append(body["status"])
        t = callback.signature.split(",")[0].removeprefix("t=")
        if not (t.isdigit() and callback.signature == signature(secret, callback.body, int(t))):
            report.callbacks_badly_signed += 1
    report.callbacks, report.callbacks_refused = len(receiver.received), receiver.refused
    for message_id, statuses in expected.items():
        got = received.get(message_id, [])
        report.callbacks_lost += [f"{message_id}:{s}" for s in statuses if s not in got]
        report.callbacks_doubled += [f"{message_id}:{s}" for s, n in Counter(got).items() if n > 1]
        if list(dict.fromkeys(got)) != [s for s in statuses if s in got]:
            report.callbacks_out_of_order.append(f"{message_id}: statuses {statuses}, callbacks {got}")


def _message(n: int, reference: str) -> dict[str, Any]:
    """Every fifth message a rich MMS through the MMS JSON API, the others SMS through XMS."""
    if n % 5:
        return {"to": "+12025550143", "text": f"fault suite {n}", "clientReference": reference}
    return {
        "to": "+12025550143",
        "subject": "Fault suite",
        "fallbackText": f"fault suite {n}",
        "slides": [{"text": f"fault suite {n}"}, {"text": "second slide"}],
        "clientReference": reference,
    }


Call = Callable[..., tuple[int, Any]]


def _listing(call: Call, api: str, reference: str) -> dict[str, dict[str, Any]]:
    """Every message with `reference`; a page that comes back as an error is asked again."""
    found: dict[str, dict[str, Any]] = {}
    token: str | None = None
    failures = 0
    while True:
        query = f"clientReference={reference}&limit=100" + (f"&nextToken={token}" if token else "")
        status, page = call("GET", f"{api}/v1/messages?{query}")
        if status != 200 or not isinstance(page, dict) or "items" not in page:
            failures += 1
            if failures > 10:
                raise RuntimeError(f"the listing failed 10 times in a row: {status} {str(page)[:200]}")
            time.sleep(min(2**failures, 30))  # ~4 minutes in all before giving up
            continue
        failures = 0
        found.update({m["id"]: m for m in page["items"]})
        token = page.get("nextToken")
        if not token:
            return found


def _settle(
    call: Call, api: str, ids: list[str], *, queued_reference: str, queued: int, timeout_s: float
) -> dict[str, dict[str, Any]]:
    """The messages once each is final (or the time is up). Only the ones still moving are
    asked about, each round: a long listing of every message must not set the suite's pace."""
    deadline = time.monotonic() + timeout_s
    latest: dict[str, dict[str, Any]] = {}
    pending = set(ids)
    found_queued: set[str] = set()

    def look(message_id: str) -> tuple[str, Any]:
        status, body = call("GET", f"{api}/v1/messages/{message_id}")
        return message_id, body if status == 200 and isinstance(body, dict) else None

    next_listing = 0.0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            # Queued messages' ids are the gateway's to derive: they are listed by their reference,
            # once the API's messages are final and then every 15 s at most (a listing of thousands
            # is pages of index queries that must not crowd out the traffic under test).
            if len(found_queued) < queued and not pending and time.monotonic() >= next_listing:
                new = set(_listing(call, api, queued_reference)) - found_queued
                found_queued |= new
                pending |= new
                next_listing = time.monotonic() + 15
            for message_id, message in pool.map(look, sorted(pending)):
                if message is not None:
                    latest[message_id] = message
                    if message["status"] in FINAL:
                        pending.discard(message_id)
            if (not pending and len(found_queued) >= queued) or time.monotonic() > deadline:
                return latest
            time.sleep(2)


def _doubled(sim: str, batch_numbers: set[str]) -> list[str]:
    """Client references of which Sinch accepted more than one message, on either API, and batch
    recipients Sinch accepted more than once, in one call or several (answers that were dropped
    included). A call to batch recipients is judged by its recipients only: how the gateway names
    such calls is its own business."""
    _, requests = _http("GET", f"{sim}/_sim/requests")
    return doubled_in(requests, batch_numbers)


def doubled_in(requests: list[dict[str, Any]], batch_numbers: set[str]) -> list[str]:
    """`_doubled` on the simulator's request log."""
    references: Counter[str] = Counter()
    recipients: Counter[str] = Counter()
    for request in requests:
        reference = _accepted_reference(request)
        if reference is None:
            continue
        to = {"+" + n.removeprefix("+") for n in request["body"].get("to") or []} & batch_numbers
        if to:
            recipients.update(to)
        else:
            references[reference] += 1
    return [ref for ref, n in references.items() if n > 1] + [
        f"batch recipient {to}" for to, n in recipients.items() if n > 1
    ]


def _accepted_reference(request: dict[str, Any]) -> str | None:
    body, response = request["body"], request["response"]
    if request["method"] != "POST" or not isinstance(body, dict) or response is None:
        return None
    if request["path"].endswith("/batches") and response["status"] == 201:
        return str(body.get("client_reference"))
    answer = response.get("body")
    sent = body.get("action") in ("sendmms", "sendsavedmms")
    if request["path"].startswith("/ep/v2") and sent and isinstance(answer, dict):
        return str(body.get("client-reference")) if answer.get("status") == "success" else None
    return None


def _dead_letter_mismatch(sqs: Any, url: str, messages: dict[str, dict[str, Any]]) -> list[str]:
    """The DLQ must hold exactly the messages that ended failed with retries_exhausted."""
    parked: set[str] = set()
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for m in batch:
            parked.add(m.get("MessageAttributes", {}).get("messageId", {}).get("StringValue", "?"))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    exhausted = {
        i
        for i, m in messages.items()
        if m["status"] == "failed" and (m.get("error") or {}).get("code") == "retries_exhausted"
    }
    return sorted(parked ^ exhausted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for every message to settle"
    )
    parser.add_argument(
        "--batches", type=int, default=0, help="batches among the messages (and dropped reports)"
    )
    parser.add_argument("--batch-size", type=int, default=25, help="recipients of each batch")
    args = parser.parse_args(argv)
    from devstack.stack import LocalStack, StackConfig

    config = StackConfig.on_free_ports(
        None,
        # The simulator's postbacks come within a second or so (a few, when retried): the MMS JSON
        # API's wait after a lost answer need not be Sinch's real quarter of an hour here.
        parameter_overrides={
            "MmsPostbackGraceSeconds": "30",
            "CallbackRetryBaseSeconds": "1",
            # Dropped reports come with batches: their messages are looked up this soon after.
            **({"ReportGraceSeconds": str(BATCH_REPORT_GRACE_S)} if args.batches else {}),
        },
    )
    with LocalStack(config, log=lambda line: None) as stack:
        report = run(stack.state(), args.count, args.timeout, Batches(args.batches, args.batch_size))
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
