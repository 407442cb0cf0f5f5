"""What a million delivered messages cost in AWS, from the figures `devstack.bench_rate` measures.

The model (docs/cost.md explains each line): per delivered message, the API Gateway requests
(the send, and each delivery report Sinch posts), Lambda requests and GB-seconds per function
(invocations and mean duration measured in the local stack, at the template's memory size),
DynamoDB write and read units (one unit per call: every item we write is under 1 KB... see the
doc for when it is not), SQS requests, Secrets Manager calls, log bytes ingested, X-Ray traces and
the web ACL's inspection of each API request. Fixed monthly costs (the web ACL and its rules: see
`web_acl_cost_per_month`; idle SQS long polls, custom metrics, alarms, dashboard) are not per
message and are left out. Prices are us-east-1 list prices, November 2026.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MILLION = 1_000_000
PRICES: dict[str, float] = {
    "api_gateway_rest_per_million": 3.50,
    "lambda_gb_second": 0.0000166667,
    "lambda_requests_per_million": 0.20,
    # On-demand, after the November 2024 price cut (was 1.25 and 0.25).
    "dynamodb_wru_per_million": 0.625,
    "dynamodb_rru_per_million": 0.125,
    "sqs_requests_per_million": 0.40,
    "secrets_manager_per_10k_calls": 0.05,
    "logs_ingest_per_gb": 0.50,
    "xray_traces_recorded_per_million": 5.00,
    # AWS WAF: every request to a stage with a web ACL is inspected (and billed), blocked or not.
    "waf_requests_per_million": 0.60,
}
# AWS WAF's fixed part, prorated by the hour: each web ACL, and each rule in it.
WAF_MONTHLY: dict[str, float] = {"web_acl": 5.00, "rule": 1.00}
# devstack.aws_calls records a BatchWriteItem once per item: each is a write like the others.
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
DYNAMODB_STRONG_READS = frozenset({"GetItem", "Query"})  # the repository reads consistently


def cost_per_million(
    figures: Mapping[str, Any],
    *,
    memory_mb: int = 512,
    xray_sampled: float = 0.05,
    wru_per_write: float = 1.0,
    prices: Mapping[str, float] = PRICES,
) -> dict[str, Any]:
    """USD per million delivered messages, by service, from `bench_rate.measure_rate`'s figures.

    `xray_sampled`: the share of requests X-Ray's default rule records at volume (one a second
    per host, then 5 %). `wru_per_write`: write units per DynamoDB write (2 when items exceed 1 KB).
    """
    calls: Mapping[str, Mapping[str, float]] = figures["aws_calls_per_delivered"]
    invocations: Mapping[str, float] = figures["invocations_per_delivered"]
    durations: Mapping[str, float] = figures["lambda_ms_per_invocation"]
    log_bytes: Mapping[str, float] = figures["log_bytes_per_delivered"]

    def per_message(service: str, operations: frozenset[str] | None = None) -> float:
        return sum(
            n
            for actions in calls.values()
            for action, n in actions.items()
            if action.startswith(f"{service}:")
            and (operations is None or action.split(":", 1)[1] in operations)
        )

    # Every SendFunction and WebhookFunction invocation came through API Gateway.
    api_requests = invocations.get("SendFunction", 0.0) + invocations.get("WebhookFunction", 0.0)
    gb_seconds = sum(
        n * durations.get(function, 0.0) / 1000 * memory_mb / 1024 for function, n in invocations.items()
    )
    writes = per_message("dynamodb", DYNAMODB_WRITES)
    reads = per_message("dynamodb", DYNAMODB_STRONG_READS)
    # Lambda's SQS poller receives and deletes what QueueFunction takes (up to 10 a batch): at
    # least one receive and one delete per invocation, on top of the functions' own sends.
    sqs = per_message("sqs") + 2 * invocations.get("QueueFunction", 0.0)
    usd = {
        "api_gateway": api_requests * prices["api_gateway_rest_per_million"],
        "lambda_requests": sum(invocations.values()) * prices["lambda_requests_per_million"],
        "lambda_compute": gb_seconds * MILLION * prices["lambda_gb_second"],
        "dynamodb_writes": writes * wru_per_write * prices["dynamodb_wru_per_million"],
        "dynamodb_reads": reads * prices["dynamodb_rru_per_million"],
        "sqs": sqs * prices["sqs_requests_per_million"],
        "secrets_manager": per_message("secretsmanager")
        * MILLION
        / 10_000
        * prices["secrets_manager_per_10k_calls"],
        "cloudwatch_logs": sum(log_bytes.values()) * MILLION / 1024**3 * prices["logs_ingest_per_gb"],
        "xray": api_requests * xray_sampled * prices["xray_traces_recorded_per_million"],
        "waf": api_requests * prices["waf_requests_per_million"],
    }
    return {
        "usd_per_million": {k: round(v, 2) for k, v in usd.items()},
        "total_usd_per_million": round(sum(usd.values()), 2),
        "per_message": {
            "api_gateway_requests": round(api_requests, 3),
            "lambda_invocations": round(sum(invocations.values()), 3),
            "lambda_gb_seconds": round(gb_seconds, 4),
            "dynamodb_writes": round(writes, 3),
            "dynamodb_reads": round(reads, 3),
            "sqs_requests": round(sqs, 3),
            "log_bytes": round(sum(log_bytes.values())),
        },
        "memory_mb": memory_mb,
        "prices": dict(prices),
    }


def web_acl_cost_per_month(rules: int, *, junk_millions: float = 0.0) -> float:
    """USD a month for one web ACL with `rules` rules, plus `junk_millions` million requests it
    inspects that are not messages' (a flood: blocked requests are inspected, and billed, too)."""
    return (
        WAF_MONTHLY["web_acl"]
        + rules * WAF_MONTHLY["rule"]
        + junk_millions * PRICES["waf_requests_per_million"]
    )


# S3 Standard, us-east-1, November 2026 list prices.
S3_PRICES: dict[str, float] = {
    "put_per_thousand": 0.005,
    "get_per_thousand": 0.0004,
    "storage_gb_month": 0.023,  # the first 50 TB
    "transfer_out_gb": 0.09,  # to the internet (Sinch), the first 10 TB a month
}
DAYS_PER_MONTH = 30.4


def media_cost_per_million(
    mean_bytes: float,
    *,
    files_per_mms: float = 1.0,
    fetches_per_file: float = 1.0,
    retention_days: float = 6.0,
    added_send_ms: float = 0.0,
    memory_mb: int = 512,
    prices: Mapping[str, float] = S3_PRICES,
) -> dict[str, Any]:
    """USD per million MMS for keeping their media (docs/cost.md): a PUT per file, a GET per fetch
    by Sinch, storage until the lifecycle rule deletes it (MediaRetentionDays, plus up to a day:
    S3 expires objects at the next midnight UTC), the transfer out to Sinch, and the Lambda time
    the fetch and the PUT add to SendFunction."""
    files = files_per_mms * MILLION
    gigabytes = files * mean_bytes / 1024**3
    usd = {
        "s3_put": files / 1000 * prices["put_per_thousand"],
        "s3_get": files * fetches_per_file / 1000 * prices["get_per_thousand"],
        "s3_storage": gigabytes * retention_days / DAYS_PER_MONTH * prices["storage_gb_month"],
        "s3_transfer_out": gigabytes * fetches_per_file * prices["transfer_out_gb"],
        "lambda_compute": MILLION * added_send_ms / 1000 * memory_mb / 1024 * PRICES["lambda_gb_second"],
    }
    return {
        "usd_per_million": {k: round(v, 2) for k, v in usd.items()},
        "total_usd_per_million": round(sum(usd.values()), 2),
        "mean_bytes": mean_bytes,
        "retention_days": retention_days,
        "prices": dict(prices),
    }


# SQS's longest delay. Not imported from the product: the benchmark imports this module in the
# process where it later loads the built layer, which must find no product module loaded yet.
SQS_MAX_DELAY_S = 900


def _priced(usd: Mapping[str, float]) -> dict[str, Any]:
    """Each line's USD per million, rounded to the cent, and their total."""
    return {
        "usd_per_million": {k: round(v, 2) for k, v in usd.items()},
        "total_usd_per_million": round(sum(usd.values()), 2),
    }


def _send_queue_rounds(
    rounds: int, hops: int, hop_ms: float, messages_per_batch: float, memory_mb: int
) -> dict[str, float]:
    """USD per million messages for `rounds` trips round SendQueue (a SendMessage and a share of
    the poller's receive and delete each), `hops` of them a QueueFunction invocation of `hop_ms`
    shared by `messages_per_batch` messages."""
    return {
        "sqs": rounds * (1 + 2 / messages_per_batch) * PRICES["sqs_requests_per_million"],
        "lambda_requests": hops / messages_per_batch * PRICES["lambda_requests_per_million"],
        "lambda_compute": MILLION * hops * hop_ms / 1000 * memory_mb / 1024 * PRICES["lambda_gb_second"],
    }


def hold_cost_per_million(
    ahead_s: float,
    *,
    hop_ms: float = 25.0,
    messages_per_batch: float = 1.0,
    memory_mb: int = 512,
) -> dict[str, Any]:
    """USD per million scheduled MMS for holding each in the gateway until its sendAt (docs/cost.md):
    SQS delays a message 15 minutes at most, so it goes round SendQueue ceil(ahead / 900) times.
    Each round is a SendMessage, a share of the poller's receive and delete, and (all but the
    last, which is the send itself) a QueueFunction hop of `hop_ms` that only queues it again.
    `messages_per_batch` is how many hops share an invocation: 1 is the worst case."""
    rounds = math.ceil(max(0.0, ahead_s) / SQS_MAX_DELAY_S)
    usd = _send_queue_rounds(rounds, max(0, rounds - 1), hop_ms, messages_per_batch, memory_mb)
    return {**_priced(usd), "rounds": rounds}


def settle_cost_per_million(
    grace_s: float,
    *,
    lookup_share: float = 0.0,
    hop_ms: float = 25.0,
    messages_per_batch: float = 1.0,
    memory_mb: int = 512,
) -> dict[str, Any]:
    """USD per million messages Sinch took for checking that each settles (docs/cost.md): its
    settle check waits ReportGraceSeconds (`grace_s`) on SendQueue, ceil(grace / 900) rounds of a
    SendMessage and a share of the poller's receive and delete, each a QueueFunction invocation of
    `hop_ms`; the last reads the message (one strong read). `lookup_share` of the messages (those
    whose final report had not come) are also looked up at Sinch: one more read, and a write
    when the answer moves the status (the Sinch call itself is not AWS's to bill)."""
    rounds = max(1, math.ceil(grace_s / SQS_MAX_DELAY_S))
    usd = {
        **_send_queue_rounds(rounds, rounds, hop_ms, messages_per_batch, memory_mb),
        "dynamodb_reads": (1 + lookup_share) * PRICES["dynamodb_rru_per_million"],
        "dynamodb_writes": lookup_share * PRICES["dynamodb_wru_per_million"],
    }
    return {**_priced(usd), "rounds": rounds}
