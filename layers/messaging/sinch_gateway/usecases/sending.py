"""Sending a message: record it, hand it to Sinch once, and decide what each outcome means."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.config import SenderSettings
from sinch_gateway.domain.answers import refusal_problem
from sinch_gateway.domain.content import Api, MessageContent, SmsContent, api_of, channel_of
from sinch_gateway.domain.errors import (
    Conflict,
    GatewayError,
    MessageNotFound,
    SinchMisconfigured,
    SinchUnavailable,
)
from sinch_gateway.domain.message import Change, MessageDraft, MessageRecord, StatusEvent, utcnow
from sinch_gateway.domain.outcomes import (
    Accepted,
    Answered,
    AuthFailed,
    CannotLookUp,
    DryRun,
    LookupOutcome,
    NotFound,
    NotOffered,
    OutboundMessage,
    Refused,
    Transient,
)
from sinch_gateway.domain.phone import mask
from sinch_gateway.domain.rate_share import Grant, RateShare, Turn, Waiting
from sinch_gateway.domain.results import Ended, Preview, PreviewRecipient, SendResult, Sent
from sinch_gateway.domain.retry_policy import next_delay
from sinch_gateway.domain.segments import count_segments
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status, Transition
from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.measures import final_status, message_accepted
from sinch_gateway.usecases.media import held_for_s, link_lifetime_s, linked
from sinch_gateway.usecases.ports import (
    MediaStore,
    MessageStore,
    OptOutLookup,
    RetryQueue,
    SenderNumber,
    SendRate,
    SinchChannel,
    TenantStore,
)

logger = Logger(child=True)
metrics = Metrics()


class MessageSender:
    """Sends through whichever channel carries a message's content; nothing here knows which."""

    def __init__(
        self,
        repository: MessageStore,
        channels: Mapping[Api, SinchChannel],
        queue: RetryQueue,
        settings: SenderSettings,
        *,
        media: MediaStore,
        rate: SendRate | None = None,
        opt_outs: OptOutLookup | None = None,
        sender_number: SenderNumber = lambda: None,
        tenants: TenantStore | None = None,
    ) -> None:
        self._repo = repository
        self._channels = channels
        self._queue = queue
        self._settings = settings
        self._media = media
        self._rate = rate or NoRate()
        self._opt_outs = opt_outs
        self._sender_number = sender_number
        self._tenants = tenants  # for each tenant's share of the rate (its policy)

    def submit(
        self, draft: MessageDraft, webhook_url: str, tenant_id: str, message_id: str | None = None
    ) -> SendResult:
        """Record a new message, then make its first send attempt.

        `message_id` is given for requests that may arrive twice (from the queue): the second
        arrival finds the message and goes no further than an attempt would.
        """
        text = draft.content.text if isinstance(draft.content, SmsContent) else None
        segments = count_segments(text) if text is not None else None
        record = MessageRecord(
            **({"id": message_id} if message_id else {}),
            tenant_id=tenant_id,
            to=draft.to,
            content=draft.content,
            client_reference=draft.client_reference,
            send_at=draft.send_at,
            expire_at=draft.expire_at,
            webhook_url=webhook_url,
            status_callback_url=draft.status_callback_url,
            segments=segments.segments if segments else None,
            encoding=segments.encoding if segments else None,
        ).expire_after(self._settings.message_ttl_days)
        record.expire_at = record.expires_at  # kept as sent to Sinch, default or not
        record.events.append(StatusEvent(status=Status.ACCEPTED, at=record.created_at))
        return self.submit_record(record)

    def submit_record(self, record: MessageRecord) -> SendResult:
        """Record a new message made already (a batch's recipient's, or `submit`'s), then make its
        first send attempt; a message with its id found, an attempt of that one."""
        if held_for_s(record.content, record.send_at, utcnow()):
            # Held here until due (see _send): nobody sends it before then, so nobody claims it.
            created: MessageRecord | None = record if self._repo.create(record) else None
        else:
            # Created already claimed for its first attempt: one write fewer on the API's hot path.
            created = self._repo.create_claimed(record, self._settings.send_lease_s)
        if created is None:
            # Derived ids include the tenant, so the message found is this tenant's own.
            return Sent(self.attempt(record.id))
        record = created
        logger.info(
            "message accepted",
            extra={
                "message_id": record.id,
                "tenant_id": record.tenant_id,
                "channel": record.channel,
                "api": record.api,
                "to": mask(record.to),
            },
        )
        message_accepted(record.tenant_id)
        if record.segments is not None:
            metrics.add_metric(name="MessageSegments", unit=MetricUnit.Count, value=record.segments)
        return self._send(record)

    def attempt_in_turn(self, message_id: str, turn: Turn | None, waiting: Waiting | None) -> None:
        """One send attempt of a message that waited for its turn in the rate: the rate is asked
        first, and while the turn has not come the message waits again, claimed, read and written
        by nobody (a place in the line costs nothing to keep). Past `waiting.until` it is read,
        and ends too old."""
        if waiting is not None and turn is not None and time.time() < waiting.until:
            share = self._share(waiting.tenant_id)
            later = self._rate.waits(
                waiting.key, share, waiting.calls, self._settings.sinch_rate_wait_s, turn
            )
            if later is not None:
                metrics.add_metric(name="SendsDeferredByRate", unit=MetricUnit.Count, value=1)
                self._queue.enqueue_retry(message_id, later.wait_s, later.turn, waiting)
                return
        self.attempt(message_id, turn)

    def attempt(self, message_id: str, turn: Turn | None = None) -> MessageRecord:
        """One send attempt, if the message still needs one and nobody else is sending it.
        `turn`: the place it kept in its tenant's share of the rate while it waited."""
        record = self._repo.claim(message_id, self._settings.send_lease_s)
        if record is None:
            current = self._repo.get(message_id)
            if current is None:
                raise MessageNotFound(f"No message with id {message_id}.")
            if current.status in SENDABLE_STATUSES:
                # Another sender holds it right now. Its outcome may still need this retry (it
                # may have queued its own just before letting go): come back when its lease ends.
                self._queue.enqueue_retry(message_id, max(1.0, self._settings.send_lease_s / 3), turn)
                logger.info("being sent elsewhere: retry kept for later", extra={"message_id": message_id})
                return current
            logger.info(
                "not sending: already handled", extra={"message_id": message_id, "status": current.status}
            )
            return current
        return self._send(record, turn).message

    def _send(self, record: MessageRecord, turn: Turn | None = None) -> SendResult:
        """Hand a claimed message to Sinch and record what came of it, unless it is to wait until
        due, or its recipient opted out while it waited."""
        hold_s = held_for_s(record.content, record.send_at, utcnow())
        if hold_s:
            # A scheduled MMS goes to Sinch when due, with links made then (usecases.media). The
            # wait is SendQueue's; a claim taken to get here simply runs out.
            self._queue.enqueue_retry(record.id, hold_s)
            logger.info("held until due", extra={"message_id": record.id, "due_in_s": round(hold_s)})
            return Sent(record)
        if record.expires_at <= utcnow():
            # Sinch refuses an expire_at already past; the caller said not to deliver it later.
            return self._end(record, Status.EXPIRED, EXPIRED_UNSENT, EXPIRED_UNSENT_TEXT)
        if self._left_s(record) <= 0:
            return self._too_old(record)
        if self._opted_out_since_admitted(record):
            metrics.add_metric(name="SendsStoppedByOptOut", unit=MetricUnit.Count, value=1)
            return self._end(record, Status.REJECTED, OPTED_OUT, OPTED_OUT_TEXT)
        return self._hand_over(record, turn)

    def _left_s(self, record: MessageRecord) -> float:
        """How long the message may still wait to be handed to Sinch: MaxMessageAgeSeconds from
        when it was due, its acceptance or, if later, its sendAt (a scheduled message does not
        age while it waits for its own time, as a held MMS does for up to 3 days)."""
        due = max(record.created_at, record.send_at) if record.send_at else record.created_at
        return self._settings.max_message_age_s - (utcnow() - due).total_seconds()

    def _too_old(self, record: MessageRecord) -> SendResult:
        """Never handed over in time: failed, nothing sent. An attempt whose answer was lost may
        have reached Sinch; it is not sent again either (at most once), and its text says so."""
        metrics.add_metric(name="MessagesTooOld", unit=MetricUnit.Count, value=1)
        last = f"last error: {record.error_code}" if record.error_code else "no attempt reached Sinch"
        text = TOO_OLD_TEXT.format(age_s=self._settings.max_message_age_s, last=last)
        if record.unconfirmed:
            text += UNCONFIRMED_TOO_OLD_TEXT
        # The claim that brought it here counted an attempt: none was made.
        return self._give_up(record, TOO_OLD, text, record.error_code or "", attempts=record.attempts - 1)

    def _opted_out_since_admitted(self, record: MessageRecord) -> bool:
        """A message that waited (held until due, or for a retry) is checked again: a STOP may have
        come meanwhile. One that goes at once was checked by its admission a moment ago."""
        if self._opt_outs is None or (utcnow() - record.created_at).total_seconds() <= RECHECK_AFTER_S:
            return False
        return self._opt_outs.opted_out(record.to, self._sender_number())

    def _hand_over(self, record: MessageRecord, turn: Turn | None = None) -> SendResult:
        """Send it (or adopt what Sinch holds of an earlier attempt) and record the outcome."""
        channel = self._channels[record.api]
        # A second attempt looks Sinch up first: that call counts against the rate too.
        calls = 2 if record.attempts > 1 else 1
        granted = self._rate.acquire(
            record.api, self._share(record.tenant_id), calls, self._settings.sinch_rate_wait_s, turn
        )
        if not granted.calls:
            # Not this tenant's turn yet, or the plan's rate is taken: wait in the queue, keeping
            # its place, rather than meet a 429. It comes back asking the rate first.
            metrics.add_metric(name="SendsDeferredByRate", unit=MetricUnit.Count, value=1)
            waiting = Waiting(record.api, record.tenant_id, calls, time.time() + self._left_s(record))
            return self._retry_later(
                record,
                RATE_WAIT,
                granted.wait_s,
                counted=False,
                jitter=False,
                turn=granted.turn,
                waiting=waiting,
            )
        found = self._earlier(channel, record) if record.attempts > 1 else NotFound()
        if isinstance(found, CannotLookUp) and record.unconfirmed:
            # Sinch may hold it, its reports did not say so in settle_s, and it cannot be asked:
            # sending again could double it. At most once wins over at least once.
            return self._end(record, Status.FAILED, OUTCOME_UNKNOWN, UNKNOWN_TEXT.format(api=record.api))
        if isinstance(found, NotFound | CannotLookUp):
            outcome = channel.send(self._outbound(record))
        else:
            outcome = found
        log = {"message_id": record.id, "attempt": record.attempts, "api": record.api}
        match outcome:
            case Accepted(sinch_id):
                metrics.add_metric(name="SinchAccepted", unit=MetricUnit.Count, value=1)
                logger.info("Sinch accepted the message", extra={**log, "sinch_id": sinch_id})
                moved = self._repo.transition(
                    record.id,
                    Status.SUBMITTED,
                    detail=f"batch {sinch_id}",
                    change=Change(sinch_id=sinch_id, clear_error=True),
                )
                if moved is not Transition.MOVED:  # a delivery report was faster than us
                    self._repo.set_sinch_id(record.id, sinch_id)
                self._check_settled_later(record)
                return Sent(record.model_copy(update={"status": Status.SUBMITTED, "sinch_id": sinch_id}))
            case Refused(http_status, code, text) as refused:
                metrics.add_metric(name="SinchRejected", unit=MetricUnit.Count, value=1)
                logger.warning(
                    "Sinch refused the message", extra={**log, "http_status": http_status, "code": code}
                )
                # Refused for good: never retried. (The answer to an API client still tells a
                # refused message from a setup Sinch does not know: see domain.answers.)
                return self._end(record, Status.REJECTED, code, text, by=refused)
            case AuthFailed(detail) as auth_failed:
                metrics.add_metric(name="SinchAuthFailures", unit=MetricUnit.Count, value=1)
                logger.error("Sinch refused our credentials, also after refreshing them", extra=log)
                return self._end(record, Status.FAILED, UNAUTHORIZED, detail, by=auth_failed)
            case Transient(reason, retry_after_s, ambiguous, rate_limited):
                metrics.add_metric(name="SinchTransientFailures", unit=MetricUnit.Count, value=1)
                if rate_limited:
                    # Every sender backs off, not only this one: the plan's rate is shared.
                    hold_s = min(retry_after_s or DEFAULT_HOLD_OFF_S, MAX_SHARED_HOLD_OFF_S)
                    self._rate.hold_off(record.api, hold_s)
                if ambiguous:
                    # Give Sinch time to show what it did with the request (in a lookup or a
                    # report) before the next attempt decides whether to send again.
                    retry_after_s = max(retry_after_s or 0.0, channel.settle_s)
                return self._retry_later(
                    record, reason, retry_after_s, counted=not rate_limited, unconfirmed=ambiguous
                )

    def _share(self, tenant_id: str) -> RateShare:
        """The tenant's claim on the rate, from its policy."""
        policy = self._tenants.policy(tenant_id) if self._tenants is not None else TenantPolicy()
        return policy.rate_share(tenant_id)

    def _check_settled_later(self, record: MessageRecord) -> None:
        """Have usecases.settling check, once its report has had ReportGraceSeconds (from its
        sendAt, if later), that the message Sinch now holds ends final."""
        ahead_s = (record.send_at - utcnow()).total_seconds() if record.send_at else 0.0
        try:
            self._queue.enqueue_settle(record.id, self._settings.report_grace_s + max(0.0, ahead_s))
        except Exception:
            # Sinch has the message and its answer must not be lost to this: its reports still
            # settle it; only a lost final report would then leave it pending.
            metrics.add_metric(name="SettleChecksNotQueued", unit=MetricUnit.Count, value=1)
            logger.exception("settle check not queued", extra={"message_id": record.id})

    def _outbound(self, record: MessageRecord) -> OutboundMessage:
        return OutboundMessage(
            reference=record.id,
            to=record.to,
            content=self._linked(record.content, record.send_at),
            webhook_url=record.webhook_url or "",
            send_at=record.send_at,
            expire_at=record.expires_at,
        )

    def _linked(self, content: MessageContent, send_at: datetime | None) -> MessageContent:
        """The content with fresh links to its kept media, each living long enough for this send."""
        lifetime = link_lifetime_s(send_at, utcnow(), self._settings.media_fetch_window_s)
        return linked(content, self._media, lifetime)

    def _earlier(self, channel: SinchChannel, record: MessageRecord) -> LookupOutcome:
        """Before sending again: did Sinch accept an earlier attempt whose answer we lost?

        A timeout or dropped connection can hide an accepted message; our id is its client
        reference, so Sinch can tell. Anything but a clear "nothing there" keeps us from sending
        blind. An API without a lookup has had `settle_s` for its reports to arrive: a report
        would have moved the message past sendable, and this attempt would not have claimed it.
        """
        found = channel.find(record.id)
        if isinstance(found, Refused):
            # A refused lookup is no answer: the message may still be there.
            return Transient(f"lookup_refused_{found.http_status}")
        if isinstance(found, Accepted):
            metrics.add_metric(name="SinchBatchesAdopted", unit=MetricUnit.Count, value=1)
            logger.warning(
                "adopting what Sinch accepted earlier",
                extra={"message_id": record.id, "batch_id": found.sinch_id},
            )
        return found

    def _end(
        self,
        record: MessageRecord,
        status: Status,
        code: str,
        text: str,
        *,
        by: Refused | AuthFailed | None = None,
        attempts: int | None = None,
    ) -> SendResult:
        """`attempts`: the count to keep, when the claim that brought it here counted none."""
        sinch_http_status = by.http_status if by is not None else None
        change = Change(
            error_code=code, error_text=text, sinch_http_status=sinch_http_status, attempts=attempts
        )
        moved = self._repo.transition(record.id, status, code=code, detail=text, change=change)
        if moved is Transition.MOVED:
            final_status(status, record.tenant_id, record.created_at)
        ended = record.model_copy(
            update={
                "status": status,
                "error_code": code,
                "error_text": text,
                "sinch_http_status": sinch_http_status,
            }
        )
        return Ended(ended, by)

    def _give_up(
        self, record: MessageRecord, code: str, text: str, last_error: str, *, attempts: int | None = None
    ) -> SendResult:
        """End a message the gateway will not send any more (failed, with why), and park its
        record on the DeadLetterQueue for a person to see."""
        logger.error(
            "giving up on the message",
            extra={
                "message_id": record.id,
                "tenant_id": record.tenant_id,
                "attempts": record.attempts if attempts is None else attempts,
                "reason": code,
                "last_error": last_error,
            },
        )
        ended = self._end(record, Status.FAILED, code, text, attempts=attempts)
        self._queue.dead_letter(
            json.dumps({"kind": "failed", "messageId": record.id, "reason": code, "lastError": last_error}),
            f"{code}: {text}",
            record.id,
        )
        return ended

    def _retry_later(
        self,
        record: MessageRecord,
        reason: str,
        retry_after_s: float | None,
        *,
        counted: bool,
        unconfirmed: bool = False,
        jitter: bool = True,
        turn: Turn | None = None,
        waiting: Waiting | None = None,
    ) -> SendResult:
        # Sinch's rate limit says "slower", not "broken": waiting for it uses up no attempt (what
        # ends such a wait is the message's age: see _left_s).
        if counted and record.attempts >= self._settings.max_send_attempts:
            text = f"{record.attempts} attempts; last error: {reason}"
            return self._give_up(record, RETRIES_EXHAUSTED, text, reason)
        if not jitter and retry_after_s is not None:
            # The shared rate's own schedule says when there is room: spread on top of it, the
            # message would come back after slots that nobody then takes.
            delay = retry_after_s
        else:
            delay = next_delay(
                record.attempts,
                base_s=self._settings.retry_base_delay_s,
                cap_s=self._settings.retry_max_delay_s,
                retry_after_s=retry_after_s,
            )
        # Never past its age limit: a long Retry-After brings it back when it is due to end.
        delay = min(delay, max(1.0, self._left_s(record)))
        # Enqueue before recording: if we die in between, the lease expires and the queued
        # retry still finds the message sendable.
        self._queue.enqueue_retry(record.id, delay, turn, waiting)
        metrics.add_metric(name="SendRetries", unit=MetricUnit.Count, value=1)
        # The message says why it waits: GET shows this error until Sinch takes it.
        code = reason.split(":", maxsplit=1)[0].strip()[:64]
        change = Change(
            error_code=code,
            error_text=f"{reason}; it will be sent again",
            attempts=None if counted else record.attempts - 1,
            # True stays true: once Sinch may hold the message, only a lookup or a report can tell.
            unconfirmed=True if unconfirmed else None,
        )
        self._repo.transition(
            record.id, Status.RETRYING, code=code, detail=reason, seen_events=record.events, change=change
        )
        logger.info(
            "will retry",
            extra={
                "message_id": record.id,
                "attempt": record.attempts,
                "reason": reason,
                "delay_s": round(delay, 2),
            },
        )
        return Sent(record.model_copy(update={"status": Status.RETRYING}))

    def dry_run(self, draft: MessageDraft) -> Preview:
        """What Sinch would send for this message; nothing is recorded or sent."""
        channel = self._channels[api_of(draft.content)]
        message = OutboundMessage(
            reference="dry-run",
            to=draft.to,
            content=self._linked(draft.content, draft.send_at),
            send_at=draft.send_at,
            expire_at=draft.expire_at,
        )
        match channel.dry_run(message):
            case DryRun(number_of_messages, recipients):
                return Preview(
                    channel=channel_of(draft.content),
                    api=channel.api,
                    number_of_messages=number_of_messages,
                    recipients=tuple(
                        PreviewRecipient(
                            to=draft.to,
                            segments=r.number_of_parts,
                            encoding="UNICODE" if r.encoding == "UNICODE" else "GSM",
                            body=r.body,
                        )
                        if isinstance(draft.content, SmsContent)
                        else PreviewRecipient(to=draft.to)
                        for r in recipients
                    ),
                )
            case NotOffered():
                # Every check of ours passed; this API has no dry run of its own to ask.
                return Preview(
                    channel=channel_of(draft.content),
                    api=channel.api,
                    number_of_messages=1,
                    recipients=(PreviewRecipient(to=draft.to),),
                )
            case outcome:
                raise unavailable_error(outcome)

    def cancel(self, tenant_id: str, message_id: str) -> MessageRecord:
        """Cancel a message Sinch has not sent yet: unsent here, or scheduled there."""
        record = self._repo.get_for_tenant(tenant_id, message_id)
        if record is None:
            raise MessageNotFound(f"No message with id {message_id}.")
        if record.status in SENDABLE_STATUSES:
            # Claiming first: a sender holding the message must not hand it to Sinch meanwhile.
            if self._repo.claim(message_id, self._settings.send_lease_s) is None:
                raise Conflict("The message is being sent right now.", retry_after_s=5)
            # The claim above counted as an attempt: it was none, and the count says so.
            return self._cancelled(record, "cancelled before it reached Sinch", attempts=record.attempts)
        scheduled = record.send_at is not None and record.send_at > utcnow()
        if not (scheduled and record.sinch_id and record.status in (Status.SUBMITTED, Status.QUEUED)):
            raise Conflict(f"The message is {record.status}: only a message not sent yet can be cancelled.")
        channel = self._channels[record.api]
        match channel.cancel(record.sinch_id):
            case Answered():
                return self._cancelled(record, f"batch {record.sinch_id} cancelled at Sinch")
            case NotOffered():
                raise Conflict("Sinch's MMS API cannot cancel a message it has accepted.")
            case Refused(http_status, code, text):
                raise Conflict(f"Sinch would not cancel it ({http_status} {code}: {text}).")
            case outcome:
                raise unavailable_error(outcome)

    def _cancelled(self, record: MessageRecord, detail: str, attempts: int | None = None) -> MessageRecord:
        change = Change(clear_error=True, attempts=attempts)
        moved = self._repo.transition(record.id, Status.CANCELLED, detail=detail, change=change)
        if moved is not Transition.MOVED:
            current = self._repo.get(record.id)
            if current is not None and current.status is Status.CANCELLED:
                return current  # Sinch's own Cancelled report came in first: same outcome
            raise Conflict(
                f"The message is {current.status if current else 'gone'}: it can no longer be cancelled."
            )
        metrics.add_metric(name="MessagesCancelled", unit=MetricUnit.Count, value=1)
        final_status(Status.CANCELLED, record.tenant_id, record.created_at)
        return self._repo.get(record.id) or record


UNAUTHORIZED = "sinch_unauthorized"
OPTED_OUT = "recipient_opted_out"
OPTED_OUT_TEXT = "the recipient opted out (texted STOP to the sender number) while it waited; not sent"
# A message older than this when it goes to Sinch has waited since its admission's opt-out check.
RECHECK_AFTER_S = 60.0
RATE_WAIT = "rate_limited: waiting for its turn in the service plan's rate"
# Sinch's throttling answers without a Retry-After (E113, E106) hold every sender off this long.
DEFAULT_HOLD_OFF_S = 1.0
# The longest one answer may hold every sender off. Sinch's rate window is a second; a Retry-After
# of hours (a fault, or a hostile answer) would stop all sending for that long. If the plan really
# is taken for longer, the next 429 holds everyone off again. The refused message itself waits
# its whole Retry-After.
MAX_SHARED_HOLD_OFF_S = 60.0
RETRIES_EXHAUSTED = "retries_exhausted"
EXPIRED_UNSENT = "expired_unsent"
EXPIRED_UNSENT_TEXT = "its expireAt passed before Sinch took it; not sent"
TOO_OLD = "too_old"
TOO_OLD_TEXT = "not sent: Sinch did not take it within {age_s:g} s of when it was due ({last})"
UNCONFIRMED_TOO_OLD_TEXT = (
    "; an earlier attempt's answer was lost, so Sinch may still have that one (its delivery "
    "reports would show here as events)"
)
OUTCOME_UNKNOWN = "sinch_outcome_unknown"
UNKNOWN_TEXT = (
    "Sinch's answer was lost and its {api} API offers no lookup; no report showed that it took the "
    "message, which was not sent again so that it cannot arrive twice"
)


class NoRate:
    """No shared rate: every call may go at once (Sinch's 429s are still retried)."""

    def acquire(
        self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn | None = None
    ) -> Grant:
        return Grant(calls)

    def waits(self, key: str, share: RateShare, calls: int, max_wait_s: float, turn: Turn) -> Grant | None:
        return None

    def hold_off(self, key: str, seconds: float) -> None:
        return None


def had_its_turn(settings: SenderSettings, elapsed_s: float, time_left_s: float | None) -> bool:
    """Whether work on one queue record that hands many messages to Sinch (a batch's slice, a
    call's settle check) should put the rest back now: it has had about as long as one send may
    wait for the rate (the records after it wait too), or the invocation has too little left for
    another call to Sinch (time_left_s: from when the record was taken)."""
    call_s = (
        2 * (settings.sinch_connect_timeout_s + settings.sinch_read_timeout_s) + settings.sinch_rate_wait_s
    )
    return elapsed_s >= settings.sinch_rate_wait_s or (
        time_left_s is not None and time_left_s - elapsed_s < call_s
    )


def unavailable_error(outcome: Transient | Refused | AuthFailed) -> GatewayError:
    """A Sinch failure on a call we do not retry ourselves (dry run, cancel)."""
    match outcome:
        case Transient(reason, retry_after_s):
            return SinchUnavailable(
                f"Sinch did not answer ({reason}); try again.",
                retry_after_s=max(1, round(retry_after_s or 5)),
            )
        case Refused() as refused:
            return refusal_problem(refused)
        case AuthFailed(detail):
            return SinchMisconfigured(f"Sinch refused the gateway's credentials: {detail}.")
