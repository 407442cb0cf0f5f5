"""Status callbacks: from MessagesTable's stream to the callback queue, and from the queue to the
caller's statusCallbackUrl.

The change is captured from the table's stream, not by the code that writes the status: a
function that dies just after its write leaves the change on the stream all the same, and the
stream keeps each message's writes in order. Each change goes to a FIFO queue grouped by message id
(so one message's callbacks go out in order, and a slow or dead receiver holds up only its own
messages, never sending or report intake), deduplicated by (message, status).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from sinch_gateway.domain.message import MessageRecord
from sinch_gateway.domain.status_callbacks import (
    SIGNATURE_HEADER,
    QueuedCallback,
    signatures,
    status_change,
)
from sinch_gateway.outbound.client import Unreachable
from sinch_gateway.usecases.callback_breaker import ReceiverBreaker
from sinch_gateway.usecases.ports import TenantStore

logger = Logger(child=True)
metrics = Metrics()

# POST the body, with these headers; the answer's status, or Unreachable (outbound.client.post).
Poster = Callable[[str, bytes, Mapping[str, str]], int]


class CallbackQueue(Protocol):
    def enqueue(self, callback: QueuedCallback) -> None: ...

    def postpone(self, receipt_handle: str, delay_s: int) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...


class CallbackFailed(Exception):
    """The receiver did not take it; it comes back after `delay_s` (its message group waits)."""

    def __init__(self, reason: str, delay_s: int) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


@dataclass(frozen=True)
class _Attempt:
    """One received callback being handled: what its retry or dead letter needs."""

    body: str
    receipt_handle: str
    queued_at_s: float
    receive_count: int
    context: dict[str, Any]


@dataclass(frozen=True)
class QueuedRecord:
    """One received CallbackQueue message."""

    message_id: str  # SQS's
    group: str  # our message id
    body: str
    receipt_handle: str
    queued_at_s: float
    receive_count: int


def _record(item: Mapping[str, Any] | None) -> MessageRecord | None:
    """The message a stream image shows, or None for any other item of the table."""
    if not item or "statusCallbackUrl" not in item or "statusRank" not in item:
        return None
    try:
        return MessageRecord.model_validate(item)
    except ValidationError:
        logger.warning("a stream image with a statusCallbackUrl is no message", extra={"id": item.get("id")})
        return None


class CallbackDispatch:
    """One stream record (old and new image, deserialised) to at most one queued callback."""

    def __init__(self, queue: CallbackQueue) -> None:
        self._queue = queue

    def handle(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
        """Enqueue the status change this write made, if any; True when one was queued."""
        record = _record(new)
        if record is None:  # a removal (TTL), or no message with a callback URL
            return False
        change = status_change(_record(old), record)
        if change is None:
            return False
        self._queue.enqueue(change)
        return True


@dataclass(frozen=True)
class Backoff:
    base_s: float
    max_delay_s: float
    max_age_s: float

    def delay(self, receive_count: int) -> int:
        """Random between half and all of base * 2^(n-1), capped; at least a second (SQS counts in
        seconds). The jitter spreads a recovered receiver's backlog."""
        ceiling = min(self.max_delay_s, self.base_s * 2 ** min(max(receive_count - 1, 0), 30))
        return max(1, round(random.uniform(ceiling / 2, ceiling)))


class CallbackDelivery:
    """One queued callback to its receiver: signed, POSTed once; on failure, back later or, past
    its max age, to the callback dead-letter queue. A receiver that is failing is not POSTed to
    at all until it may have recovered (usecases.callback_breaker)."""

    def __init__(
        self,
        tenants: TenantStore,
        queue: CallbackQueue,
        post: Poster,
        backoff: Backoff,
        breaker: ReceiverBreaker,
        *,
        slow_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`slow_s`: a failed POST that took this long held its worker for nothing (a receiver that
        does not answer): its receiver is held at once."""
        self._tenants = tenants
        self._queue = queue
        self._post = post
        self._backoff = backoff
        self._breaker = breaker
        self._slow_s = slow_s
        self._clock = clock

    def handle_batch(self, records: Sequence[QueuedRecord]) -> list[str]:
        """Deliver a batch; the SQS ids to report failed. Each message's callbacks go in order, and
        different messages' side by side: a receiver that takes its time holds up its own
        messages only, never a batch's others. After a failed callback, its message's later
        callbacks in the batch are not tried: they wait as long as it does (left in flight for
        longer, they would hold the group after it came back)."""
        groups: dict[str, list[QueuedRecord]] = {}
        for record in records:
            groups.setdefault(record.group, []).append(record)
        if len(groups) == 1:
            failed = set(self._handle_group(records))
        else:
            with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="callbacks") as pool:
                failed = {i for ids in pool.map(self._handle_group, groups.values()) for i in ids}
        return [record.message_id for record in records if record.message_id in failed]

    def _handle_group(self, records: Sequence[QueuedRecord]) -> list[str]:
        """One message's callbacks of the batch, in order; the ids that failed."""
        wait: int | None = None  # how long the group's failed callback waits (None: unknown)
        for index, record in enumerate(records):
            try:
                self.handle(record.body, record.receipt_handle, record.queued_at_s, record.receive_count)
            except CallbackFailed as exc:
                wait = exc.delay_s
            except Exception:  # AWS trouble: SQS brings it back after the visibility timeout
                logger.exception("a status callback could not be handled")
            else:
                continue
            later = records[index + 1 :]
            if wait is not None:
                for waiting in later:
                    self._queue.postpone(waiting.receipt_handle, wait)
            return [r.message_id for r in records[index:]]
        return []

    def handle(self, body: str, receipt_handle: str, queued_at_s: float, receive_count: int) -> None:
        """Deliver, or raise CallbackFailed after setting when it is tried again."""
        try:
            queued = QueuedCallback.from_queue_body(body)
        except (ValueError, ValidationError):
            self._give_up(body, "not a queued callback")
            return
        tenant = self._tenants.get(queued.tenant_id)
        if tenant is None or not tenant.callback_secret:
            self._give_up(body, "the tenant has no callback secret to sign with")
            return
        context: dict[str, Any] = {"message_id": queued.callback.id, "status": queued.callback.status}
        attempt = _Attempt(body, receipt_handle, queued_at_s, receive_count, context)
        now = self._clock()
        passage = self._breaker.passage(queued.receiver, now)
        if not passage.post:
            metrics.add_metric(name="StatusCallbacksHeld", unit=MetricUnit.Count, value=1)
            self._retry_later(attempt, "its receiver is held after failing", not_before=passage.wait_until)
            return
        content = queued.callback.body()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signatures(
                tenant.signing_secrets(datetime.fromtimestamp(now, UTC)), content, int(now)
            ),
        }
        failure = self._attempt(queued.url, content, headers)
        ended = self._clock()
        if failure is None:
            self._breaker.taken(queued.receiver, passage, ended)
            metrics.add_metric(name="StatusCallbacksDelivered", unit=MetricUnit.Count, value=1)
            # With the failures' lines, each message's callbacks can be followed in order.
            logger.info("status callback taken", extra={**context, "receive_count": receive_count})
            return
        self._breaker.refused(queued.receiver, passage, ended, slow=ended - now >= self._slow_s)
        metrics.add_metric(name="StatusCallbackFailures", unit=MetricUnit.Count, value=1)
        self._retry_later(attempt, failure)

    def _retry_later(self, attempt: _Attempt, reason: str, not_before: float = 0.0) -> None:
        """Back on the queue after its backoff (and not before `not_before`), or past its max age
        to the dead-letter queue; raises CallbackFailed when it comes back."""
        now = self._clock()
        delay = self._backoff.delay(attempt.receive_count)
        if not_before > now:
            # Spread over a quarter of the hold: they come back one by one, not all at once.
            hold = not_before - now
            delay = max(delay, math.ceil(hold + random.uniform(0, hold / 4)))
        context = {**attempt.context, "reason": reason}
        if now - attempt.queued_at_s + delay > self._backoff.max_age_s:
            self._give_up(
                attempt.body, f"not taken within {self._backoff.max_age_s:.0f} s; last: {reason}", context
            )
            return
        self._queue.postpone(attempt.receipt_handle, delay)
        logger.info("status callback not taken, tried again later", extra={**context, "delay_s": delay})
        raise CallbackFailed(reason, delay)

    def _attempt(self, url: str, content: bytes, headers: Mapping[str, str]) -> str | None:
        """None when the receiver took it (2xx); otherwise why not."""
        try:
            status = self._post(url, content, headers)
        except Unreachable as exc:
            return str(exc)
        return None if 200 <= status < 300 else f"answered HTTP {status}"

    def _give_up(self, body: str, reason: str, context: Mapping[str, Any] | None = None) -> None:
        self._queue.dead_letter(body, reason)
        metrics.add_metric(name="StatusCallbacksDeadLettered", unit=MetricUnit.Count, value=1)
        logger.error("status callback given up", extra={**(context or {}), "reason": reason})
