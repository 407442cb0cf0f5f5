"""SendQueue, where a message waits for its next attempt, and the DeadLetterQueue beside it."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.data.queue_text import sqs_text, string_attributes
from sinch_gateway.domain.batches import BatchSlice
from sinch_gateway.domain.rate_share import Turn, Waiting

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_MAX_DELAY_S = 900
# The longest a retry is carried round the queue: a scheduled MMS held until its sendAt (at most
# 3 days ahead) is the longest legitimate wait. Only a forged or corrupt notBefore meets it: that
# message then comes up within 4 days, instead of circling for ever (or, at infinity, failing
# every time).
MAX_WAIT_S = 4 * 24 * 60 * 60
RETRY_KIND = "retry"
SETTLE_KIND = "settle"
SLICE_KIND = "slice"

metrics = Metrics()


def bounded_wait(seconds: float) -> float:
    """`seconds` within [0, MAX_WAIT_S]; NaN is no wait."""
    return 0.0 if math.isnan(seconds) else min(max(seconds, 0.0), MAX_WAIT_S)


class SendQueue:
    def __init__(self, client: SQSClient, queue_url: str, dead_letter_url: str) -> None:
        self._sqs = client
        self._url = queue_url
        self._dead_letter_url = dead_letter_url

    def enqueue_retry(
        self, message_id: str, delay_s: float, turn: Turn | None = None, waiting: Waiting | None = None
    ) -> None:
        body: dict[str, Any] = {"kind": RETRY_KIND, "messageId": message_id}
        if turn is not None:
            body["turn"] = _turn(turn)
        if waiting is not None:
            body["waiting"] = {
                "api": waiting.key,
                "tenant": waiting.tenant_id,
                "calls": waiting.calls,
                "until": round(waiting.until, 3),
            }
        self._wait(body, delay_s)

    def enqueue_slice(self, batch_slice: BatchSlice, delay_s: float = 0.0) -> None:
        """Queue a batch's slice (or what is left of it) for the queue function to send."""
        body: dict[str, Any] = {
            "kind": SLICE_KIND,
            "batchId": batch_slice.batch_id,
            "tenant": batch_slice.tenant_id,
            "index": batch_slice.index,
            "recipients": [
                {"to": r.to, **({"values": dict(r.values)} if r.values else {})}
                for r in batch_slice.recipients
            ],
        }
        if batch_slice.turn is not None:
            body["turn"] = _turn(batch_slice.turn)
        self._wait(body, delay_s)

    def enqueue_settle(self, message_id: str, delay_s: float) -> None:
        self._wait({"kind": SETTLE_KIND, "messageId": message_id}, delay_s)

    def enqueue_settle_all(self, message_ids: Sequence[str], delay_s: float) -> None:
        """One check of the messages one call handed over (1,000 ids: about 40 KB of SQS's 256);
        of one message, the body `enqueue_settle` writes."""
        if len(message_ids) == 1:
            self.enqueue_settle(message_ids[0], delay_s)
        else:
            self._wait({"kind": SETTLE_KIND, "messageIds": list(message_ids)}, delay_s)

    def _wait(self, body: dict[str, Any], delay_s: float) -> None:
        delay_s = bounded_wait(delay_s)
        if delay_s > SQS_MAX_DELAY_S:
            # SQS delays at most 15 minutes: the rest of the wait is carried in the message.
            body["notBefore"] = round(time.time() + delay_s, 3)
        self.delay(body, delay_s)

    def delay(self, body: dict[str, Any], delay_s: float) -> None:
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps(body),  # ASCII: json.dumps escapes every other character
            DelaySeconds=round(min(SQS_MAX_DELAY_S, bounded_wait(delay_s))),
        )

    def dead_letter(self, body: str, reason: str, message_id: str | None) -> None:
        """Park what will not be sent, with why, for a person to look at."""
        self._sqs.send_message(
            QueueUrl=self._dead_letter_url,
            MessageBody=sqs_text(body),
            MessageAttributes=string_attributes(reason=reason, messageId=message_id),
        )
        metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=1)


def _turn(turn: Turn) -> dict[str, float]:
    """A place in the tenant's share of Sinch's rate, kept while it waits."""
    return {"place": turn.place, **({"capAt": turn.cap_at} if turn.cap_at is not None else {})}
