"""Fanning a batch out: a slice of its recipients (one SendQueue body) made into messages and handed
to Sinch.

XMS takes up to 1,000 recipients in one call, each text filled in by Sinch from the call's
`parameters`; a call carries as many as the tenant's share of the plan's rate allows (the rate
counts recipients, as Sinch does), so that other tenants' messages go between a big batch's
calls. The MMS JSON API takes one recipient per call: those go through the single message's path.
What is left of a slice when the rate says wait, or when the slice has had its time, goes back to
SendQueue with its place in the rate, rather than hold the function (and the records after it).

Each recipient's message is written at most three times while all goes well: made (already
claimed for the call that carries it, naming that call), handed over (`submitted`, Sinch's id),
final (its report). A slice delivered twice finds the messages it made (their ids are derived):
one handed over is not sent again, one claimed by a call that may have reached Sinch (the function
died, or the answer was lost) is looked up at Sinch by that call's client_reference first.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.config import SenderSettings
from sinch_gateway.domain.batches import BatchRecord, BatchSlice, BatchStatus, SliceRecipient, fill
from sinch_gateway.domain.content import Api, MessageContent, SmsContent, api_of
from sinch_gateway.domain.fan_out import (
    call_parameters,
    call_reference,
    content_text,
    filled_content,
    recipients_per_call,
)
from sinch_gateway.domain.message import SINCH_VALIDITY, Change, MessageRecord, StatusEvent, utcnow
from sinch_gateway.domain.outcomes import (
    Accepted,
    AuthFailed,
    NotFound,
    OutboundBatch,
    Refused,
    SendOutcome,
    Transient,
)
from sinch_gateway.domain.rate_share import Turn
from sinch_gateway.domain.retry_policy import next_delay
from sinch_gateway.domain.segments import count_segments
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status, Transition
from sinch_gateway.measures import final_status, message_accepted
from sinch_gateway.usecases.media import held_for_s, link_lifetime_s, linked
from sinch_gateway.usecases.ports import (
    BatchChannel,
    BatchStore,
    MediaStore,
    MessageStore,
    RetryQueue,
    SendRate,
    TenantStore,
)
from sinch_gateway.usecases.sending import (
    DEFAULT_HOLD_OFF_S,
    EXPIRED_UNSENT,
    EXPIRED_UNSENT_TEXT,
    MAX_SHARED_HOLD_OFF_S,
    RETRIES_EXHAUSTED,
    TOO_OLD,
    TOO_OLD_TEXT,
    UNAUTHORIZED,
    MessageSender,
    NoRate,
    had_its_turn,
)

logger = Logger(child=True)
metrics = Metrics()

CANCELLED_TEXT = "its batch was cancelled before this recipient was handed to Sinch"


@dataclass(frozen=True)
class QueuedSlice:
    """A batch's slice as SendQueue carries it; `not_before`: it waits longer than SQS delays."""

    batch_slice: BatchSlice
    not_before: float | None = None


class FanOut:
    def __init__(
        self,
        repository: MessageStore,
        batches: BatchStore,
        channel: BatchChannel,
        sender: MessageSender,
        *,
        queue: RetryQueue,
        settings: SenderSettings,
        media: MediaStore,
        tenants: TenantStore,
        rate: SendRate | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repo = repository
        self._batches = batches
        self._channel = channel
        self._sender = sender
        self._queue = queue
        self._settings = settings
        self._media = media
        self._tenants = tenants
        self._rate = rate or NoRate()
        self._clock = clock

    def hand_over(self, queued: QueuedSlice, body: str, *, time_left_s: float | None = None) -> None:
        """Make the slice's messages and hand them to Sinch, as far as the rate and the slice's
        time allow; the rest goes back to SendQueue. Raises only for AWS trouble (SQS delivers
        the slice again); a slice that can never be sent is parked on the DLQ with why."""
        batch_slice = queued.batch_slice
        wait = (queued.not_before or 0) - time.time()
        if wait > 1:
            self._queue.enqueue_slice(batch_slice, wait)  # SQS delays at most 15 minutes: round again
            return
        batch = self._batches.get(batch_slice.batch_id)
        if batch is None:
            self._park(body, "unknown_batch: no such batch (expired or never recorded)", batch_slice)
            return
        if batch.tenant_id != batch_slice.tenant_id:
            self._park(body, "tenant_mismatch: the slice names another tenant than its batch", batch_slice)
            return
        metrics.add_metric(name="BatchSlices", unit=MetricUnit.Count, value=1)
        hold_s = held_for_s(batch.content, batch.send_at, utcnow())
        if hold_s:
            # Kept media is linked when due (usecases.media): the slice waits for its time here.
            self._queue.enqueue_slice(batch_slice, hold_s)
            return
        if api_of(batch.content) is Api.MMS_JSON:
            self._one_by_one(batch, batch_slice, time_left_s)
        else:
            self._in_calls(batch, batch_slice, time_left_s)

    # --- the MMS JSON API: one recipient per call, each as a single message ----------------------

    def _one_by_one(self, batch: BatchRecord, batch_slice: BatchSlice, time_left_s: float | None) -> None:
        started = self._clock()
        recipients = batch_slice.recipients
        for at, recipient in enumerate(recipients):
            if at and self._out_of_time(started, time_left_s):
                self._put_back(batch_slice, recipients[at:], 0.0, None)
                return
            batch = self._batches.get(batch.id) or batch
            if batch.status is BatchStatus.CANCELLED:
                self._end_unsent(batch, recipients[at:], Status.CANCELLED, "batch_cancelled", CANCELLED_TEXT)
                return
            sent = self._sender.submit_record(self._message(batch, recipient, None))
            if sent.message.status is Status.RETRYING and at + 1 < len(recipients):
                # The rate had no room, or Sinch failed: this one waits for its own retry, and
                # the others with it rather than meet the same.
                self._put_back(batch_slice, recipients[at + 1 :], self._settings.retry_base_delay_s, None)
                return

    # --- XMS: up to 1,000 recipients per call -----------------------------------------------------

    def _in_calls(self, batch: BatchRecord, batch_slice: BatchSlice, time_left_s: float | None) -> None:
        share = self._tenants.policy(batch.tenant_id).rate_share(batch.tenant_id)
        size = recipients_per_call(self._settings.sinch_rate_per_s, share, self._settings.sinch_rate_wait_s)
        started = self._clock()
        turn = batch_slice.turn
        recipients = list(batch_slice.recipients)
        while recipients:
            batch = self._batches.get(batch.id) or batch
            if batch.status is BatchStatus.CANCELLED:
                self._end_unsent(batch, recipients, Status.CANCELLED, "batch_cancelled", CANCELLED_TEXT)
                return
            if self._expired(batch, recipients):
                return
            chunk, rest = recipients[:size], recipients[size:]
            pending = self._pending(batch, chunk)
            if not pending:
                recipients = rest
                continue
            granted = self._rate.acquire(
                self._channel.api, share, len(pending), self._settings.sinch_rate_wait_s, turn
            )
            if not granted.calls:
                metrics.add_metric(name="BatchCallsDeferredByRate", unit=MetricUnit.Count, value=1)
                self._put_back(batch_slice, recipients, granted.wait_s, granted.turn)
                return
            turn = None  # its place was taken: the next call takes a new one
            again = self._call(batch, batch_slice, pending)
            if again is not None:
                # Sinch failed: these recipients and all after them wait (retry_after, seconds).
                self._put_back(batch_slice, [*again[0], *rest], again[1], None)
                return
            recipients = rest
            if recipients and self._out_of_time(started, time_left_s):
                self._put_back(batch_slice, recipients, 0.0, None)
                return

    def _pending(
        self, batch: BatchRecord, chunk: Sequence[SliceRecipient]
    ) -> list[tuple[SliceRecipient, MessageRecord | None]]:
        """The recipients of `chunk` still to be handed over, with their messages if made already
        (a slice delivered again, or put back after a failure)."""
        found = self._repo.get_all([r.message_id(batch.id) for r in chunk])
        pending = [(r, found.get(r.message_id(batch.id))) for r in chunk]
        return [(r, m) for r, m in pending if m is None or m.status in SENDABLE_STATUSES]

    def _call(
        self,
        batch: BatchRecord,
        batch_slice: BatchSlice,
        pending: Sequence[tuple[SliceRecipient, MessageRecord | None]],
    ) -> tuple[list[SliceRecipient], float] | None:
        """One call for `pending` (their messages made or claimed first); the recipients to try
        again and when, if Sinch failed."""
        reference = call_reference(batch.id, batch_slice.index)
        lease = self._settings.send_lease_s
        parameters = call_parameters(batch.defaults, (r for r, _ in pending))
        made = self._repo.create_all(
            [self._message(batch, r, reference, parameters) for r, m in pending if m is None], lease
        )
        for record in made:
            message_accepted(record.tenant_id)
        earlier = self._repo.claim_all([m.id for _, m in pending if m is not None], lease, reference)
        claimed = [*made, *(m.model_copy(update={"attempts": m.attempts + 1}) for m in earlier)]
        by_to = {r.to: r for r, _ in pending}
        # A call that may have reached Sinch (its function died, or its answer was lost) is
        # looked up first: what Sinch holds is adopted, never sent again.
        again: list[MessageRecord] = []
        unknown: list[MessageRecord] = []
        for old_reference, records in _uncertain(earlier).items():
            found = self._channel.find(old_reference)
            ids = {r.id for r in records}
            mine = [c for c in claimed if c.id in ids]
            claimed = [c for c in claimed if c.id not in ids]
            match found:
                case Accepted(sinch_id):
                    metrics.add_metric(name="SinchBatchesAdopted", unit=MetricUnit.Count, value=1)
                    logger.warning(
                        "adopting what Sinch accepted earlier",
                        extra={"batch_id": batch.id, "sinch_id": sinch_id},
                    )
                    self._submitted(batch, mine, sinch_id)
                case NotFound():
                    claimed.extend(mine)
                case _:
                    unknown.extend(mine)  # no clear answer: never sent blind
        if unknown:
            self._retry(batch, unknown, Transient("lookup_failed", ambiguous=True))
            again.extend(unknown)
        if claimed:
            outcome = self._channel.send_batch(
                OutboundBatch(
                    reference=reference,
                    recipients=tuple(c.to for c in claimed),
                    content=self._linked(batch),
                    parameters=call_parameters(batch.defaults, (by_to[c.to] for c in claimed)),
                    webhook_url=batch.webhook_url,
                    send_at=batch.send_at,
                    expire_at=self._expires_at(batch),
                )
            )
            delay = self._outcome(batch, claimed, outcome)
            if delay is not None:
                again.extend(claimed)
                return [by_to[r.to] for r in again], delay
        if again:
            return [by_to[r.to] for r in again], self._channel.settle_s
        return None

    def _outcome(self, batch: BatchRecord, sent: list[MessageRecord], outcome: SendOutcome) -> float | None:
        """Record what Sinch answered for the call; when to try `sent` again, if that is what it means."""
        log = {"batch_id": batch.id, "tenant_id": batch.tenant_id, "recipients": len(sent)}
        match outcome:
            case Accepted(sinch_id):
                metrics.add_metric(name="SinchAccepted", unit=MetricUnit.Count, value=1)
                metrics.add_metric(name="BatchRecipientsHandedOver", unit=MetricUnit.Count, value=len(sent))
                logger.info("Sinch accepted a batch call", extra={**log, "sinch_id": sinch_id})
                self._submitted(batch, sent, sinch_id)
                return None
            case Refused(http_status, code, text):
                metrics.add_metric(name="SinchRejected", unit=MetricUnit.Count, value=1)
                logger.warning(
                    "Sinch refused a batch call", extra={**log, "http_status": http_status, "code": code}
                )
                self._end(sent, Status.REJECTED, code, text, http_status)
                return None
            case AuthFailed(detail, http_status):
                metrics.add_metric(name="SinchAuthFailures", unit=MetricUnit.Count, value=1)
                logger.error("Sinch refused our credentials, also after refreshing them", extra=log)
                self._end(sent, Status.FAILED, UNAUTHORIZED, detail, http_status)
                return None
            case Transient() as transient:
                return self._retry(batch, sent, transient)

    def _submitted(self, batch: BatchRecord, records: Sequence[MessageRecord], sinch_id: str) -> None:
        event = StatusEvent(status=Status.SUBMITTED, at=utcnow(), detail=f"batch {sinch_id}")
        moved = self._repo.advance_all(records, event, Change(sinch_id=sinch_id, clear_error=True))
        for record in records:
            if moved[record.id].transition is Transition.STALE:
                self._repo.set_sinch_id(record.id, sinch_id)  # its report was faster than us
        self._check_settled_later(batch, [r.id for r in records])

    def _check_settled_later(self, batch: BatchRecord, message_ids: list[str]) -> None:
        """One settle check for the call's messages (usecases.settling), once their reports have
        had ReportGraceSeconds (from sendAt, if later)."""
        ahead_s = (batch.send_at - utcnow()).total_seconds() if batch.send_at else 0.0
        try:
            self._queue.enqueue_settle_all(message_ids, self._settings.report_grace_s + max(0.0, ahead_s))
        except Exception:
            # Sinch has them: their reports still settle them.
            metrics.add_metric(name="SettleChecksNotQueued", unit=MetricUnit.Count, value=1)
            logger.exception("settle check not queued", extra={"batch_id": batch.id})

    def _retry(self, batch: BatchRecord, sent: list[MessageRecord], transient: Transient) -> float | None:
        """Sinch failed for now: each recipient waits as a message does (retrying, why, its
        attempts), or, out of attempts, ends failed. The wait; None when they ended."""
        metrics.add_metric(name="SinchTransientFailures", unit=MetricUnit.Count, value=1)
        retry_after_s = transient.retry_after_s
        if transient.rate_limited:
            # Every sender backs off, not only this one: the plan's rate is shared.
            self._rate.hold_off(
                self._channel.api, min(retry_after_s or DEFAULT_HOLD_OFF_S, MAX_SHARED_HOLD_OFF_S)
            )
        if transient.ambiguous:
            retry_after_s = max(retry_after_s or 0.0, self._channel.settle_s)
        counted = not transient.rate_limited
        attempts = max(r.attempts for r in sent)
        if counted and attempts >= self._settings.max_send_attempts:
            text = f"{attempts} attempts; last error: {transient.reason}"
            logger.error(
                "giving up on a batch call",
                extra={"batch_id": batch.id, "recipients": len(sent), "reason": transient.reason},
            )
            self._end(sent, Status.FAILED, RETRIES_EXHAUSTED, text, None)
            self._queue.dead_letter(
                json.dumps({"kind": "failed", "batchId": batch.id, "messageIds": [r.id for r in sent]}),
                f"{RETRIES_EXHAUSTED}: {text}",
                None,
            )
            return None
        delay = next_delay(
            attempts,
            base_s=self._settings.retry_base_delay_s,
            cap_s=self._settings.retry_max_delay_s,
            retry_after_s=retry_after_s,
        )
        code = transient.reason.split(":", maxsplit=1)[0].strip()[:64]
        event = StatusEvent(status=Status.RETRYING, at=utcnow(), code=code, detail=transient.reason)
        by_attempts: dict[int, list[MessageRecord]] = defaultdict(list)
        for record in sent:
            by_attempts[record.attempts].append(record)
        for count, records in by_attempts.items():
            change = Change(
                error_code=code,
                error_text=f"{transient.reason}; it will be sent again",
                attempts=None if counted else count - 1,
                unconfirmed=True if transient.ambiguous else None,
            )
            self._repo.advance_all(records, event, change)
        metrics.add_metric(name="SendRetries", unit=MetricUnit.Count, value=len(sent))
        logger.info(
            "batch call will be tried again",
            extra={
                "batch_id": batch.id,
                "recipients": len(sent),
                "reason": transient.reason,
                "delay_s": round(delay, 2),
            },
        )
        return delay

    def _end(
        self, records: Sequence[MessageRecord], status: Status, code: str, text: str, http_status: int | None
    ) -> None:
        event = StatusEvent(status=status, at=utcnow(), code=code, detail=text)
        change = Change(error_code=code, error_text=text, sinch_http_status=http_status)
        for advanced in self._repo.advance_all(records, event, change).values():
            if advanced.final is not None:
                final_status(status, advanced.final.tenant_id, advanced.final.created_at)

    def _end_unsent(
        self, batch: BatchRecord, recipients: Sequence[SliceRecipient], status: Status, code: str, text: str
    ) -> None:
        """End recipients not handed over (yet) with a final status, nothing sent: a message not
        made is made so; one waiting is claimed first (a sender must not hand it over meanwhile)."""
        at = utcnow()
        event = StatusEvent(status=status, at=at, code=code, detail=text)
        size = 100
        for start in range(0, len(recipients), size):
            chunk = recipients[start : start + size]
            pending = self._pending(batch, chunk)
            ended = [
                self._message(batch, r, None, extra=[event], status=status, code=code, text=text)
                for r, m in pending
                if m is None
            ]
            for record in self._repo.create_all(ended):
                final_status(status, record.tenant_id, record.created_at)
            waiting = self._repo.claim_all([m.id for _, m in pending if m is not None], 1)
            self._end(waiting, status, code, text, None)
        logger.info("batch recipients ended unsent", extra={"batch_id": batch.id, "status": status.value})

    def _expired(self, batch: BatchRecord, recipients: Sequence[SliceRecipient]) -> bool:
        """Past its expireAt (Sinch would refuse it), or waited past MaxMessageAgeSeconds: the
        recipients end unsent. Whether they did."""
        now = utcnow()
        if self._expires_at(batch) <= now:
            self._end_unsent(batch, recipients, Status.EXPIRED, EXPIRED_UNSENT, EXPIRED_UNSENT_TEXT)
            return True
        due = max(batch.created_at, batch.send_at) if batch.send_at else batch.created_at
        age_s = self._settings.max_message_age_s
        if (now - due).total_seconds() >= age_s:
            text = TOO_OLD_TEXT.format(age_s=age_s, last="no attempt reached Sinch")
            self._end_unsent(batch, recipients, Status.FAILED, TOO_OLD, text)
            return True
        return False

    # --- the messages ------------------------------------------------------------------------------

    def _message(
        self,
        batch: BatchRecord,
        recipient: SliceRecipient,
        reference: str | None,
        parameters: dict[str, dict[str, str]] | None = None,
        *,
        extra: Sequence[StatusEvent] = (),
        status: Status = Status.ACCEPTED,
        code: str | None = None,
        text: str | None = None,
    ) -> MessageRecord:
        """Recipient's message as made: its text as it gets it, everything else the batch's."""
        parameters = parameters if parameters is not None else call_parameters(batch.defaults, [recipient])
        template = content_text(batch.content)
        content = filled_content(
            batch.content, fill(template, parameters, recipient.to) if template else template
        )
        segments = count_segments(content.text) if isinstance(content, SmsContent) else None
        record = MessageRecord(
            id=recipient.message_id(batch.id),
            tenant_id=batch.tenant_id,
            to=recipient.to,
            content=content,
            batch_id=batch.id,
            client_reference=batch.client_reference,
            send_at=batch.send_at,
            expire_at=batch.expire_at,
            webhook_url=batch.webhook_url,
            status_callback_url=batch.status_callback_url,
            segments=segments.segments if segments else None,
            encoding=segments.encoding if segments else None,
            call_reference=reference,
            status=status,
            error_code=code,
            error_text=text,
            created_at=batch.created_at,  # accepted with its batch
            events=[StatusEvent(status=Status.ACCEPTED, at=batch.created_at), *extra],
        ).expire_after(self._settings.message_ttl_days)
        record.expire_at = record.expires_at  # kept as sent to Sinch, default or not
        return record

    @staticmethod
    def _expires_at(batch: BatchRecord) -> datetime:
        """When Sinch is to stop trying, as for each of its messages."""
        return batch.expire_at or (batch.send_at or batch.created_at) + SINCH_VALIDITY

    def _linked(self, batch: BatchRecord) -> MessageContent:
        lifetime = link_lifetime_s(batch.send_at, utcnow(), self._settings.media_fetch_window_s)
        return linked(batch.content, self._media, lifetime)

    def _put_back(
        self, batch_slice: BatchSlice, recipients: Sequence[SliceRecipient], delay_s: float, turn: Turn | None
    ) -> None:
        self._queue.enqueue_slice(replace(batch_slice, recipients=tuple(recipients), turn=turn), delay_s)

    def _out_of_time(self, started: float, time_left_s: float | None) -> bool:
        return had_its_turn(self._settings, self._clock() - started, time_left_s)

    def _park(self, body: str, reason: str, batch_slice: BatchSlice) -> None:
        """A slice that can never be sent: on the DeadLetterQueue with why, logged at ERROR."""
        self._queue.dead_letter(body, reason, None)
        metrics.add_metric(name="BatchSlicesFailed", unit=MetricUnit.Count, value=1)
        logger.error(
            "batch slice parked on the DeadLetterQueue",
            extra={"batch_id": batch_slice.batch_id[:80], "slice": batch_slice.index, "reason": reason},
        )


def _uncertain(earlier: Sequence[MessageRecord]) -> dict[str, list[MessageRecord]]:
    """Of messages claimed again, those a call may have handed to Sinch, by that call's reference:
    claimed by it and never told its outcome (the function died), or told its answer was lost."""
    uncertain: dict[str, list[MessageRecord]] = defaultdict(list)
    for record in earlier:
        if record.call_reference and (record.status is Status.ACCEPTED or record.unconfirmed):
            uncertain[record.call_reference].append(record)
    return uncertain
