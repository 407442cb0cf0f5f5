"""Statuses that settle: a message Sinch accepted ends final even when its delivery report never
comes. `ReportGraceSeconds` after Sinch took it, a SendQueue record brings it here: a message
already final is left alone (the report came: one read, nothing else); otherwise Sinch is asked
what became of it (XMS's per-recipient delivery report) and the answer applied as a report would
be. Still not final, it is checked again later, each wait as long as the message's age, so a
message pending for days costs a handful of lookups. At its expireAt (plus the grace, for Sinch's
own Expired to arrive) with no final word, it ends `expired`, code `no_final_report`: a status
change like any, which the caller's status callback hears. The MMS JSON API has no lookup: its
messages wait for their postbacks until then."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.config import SenderSettings
from sinch_gateway.domain.content import Api
from sinch_gateway.domain.message import Change, MessageRecord, StatusEvent, utcnow
from sinch_gateway.domain.reports import StatusReport
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status, Transition
from sinch_gateway.measures import final_status
from sinch_gateway.usecases.ports import MessageStore, RetryQueue, SendRate, SinchChannel, TenantStore
from sinch_gateway.usecases.sending import NoRate, had_its_turn

logger = Logger(child=True)
metrics = Metrics()

NO_FINAL_REPORT = "no_final_report"
NO_FINAL_REPORT_TEXT = "Sinch gave no final status for it by its expireAt ({expire_at}); {how}"
LOOKED_UP = "looked up at Sinch: no delivery report had come"


class Settler:
    def __init__(
        self,
        repository: MessageStore,
        channels: Mapping[Api, SinchChannel],
        queue: RetryQueue,
        settings: SenderSettings,
        *,
        rate: SendRate | None,
        tenants: TenantStore,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._repo = repository
        self._channels = channels
        self._queue = queue
        self._settings = settings
        self._grace = timedelta(seconds=settings.report_grace_s)
        self._rate_wait_s = settings.sinch_rate_wait_s
        self._rate = rate or NoRate()
        self._tenants = tenants

    def settle(self, message_id: str) -> None:
        """One check of a message Sinch accepted; raises only for AWS trouble (SQS delivers the
        check again)."""
        wait_s = self._check(message_id)
        if wait_s is not None:
            self._queue.enqueue_settle(message_id, wait_s)

    def settle_all(self, message_ids: Sequence[str], *, time_left_s: float | None = None) -> None:
        """One check of each of the messages one call handed over; those still pending are checked
        again together (one SQS message for those due at the same time, which they mostly are:
        one call, one age). Each lookup waits for its turn in the rate: past its own turn
        (usecases.sending.had_its_turn), the check puts the messages it did not reach back at once."""
        started = self._clock()
        again: dict[float, list[str]] = defaultdict(list)
        for at, message_id in enumerate(message_ids):
            if at and had_its_turn(self._settings, self._clock() - started, time_left_s):
                again[0.0].extend(message_ids[at:])
                break
            wait_s = self._check(message_id)
            if wait_s is not None:
                again[round(wait_s)].append(message_id)
        for wait_s, ids in again.items():
            self._queue.enqueue_settle_all(ids, wait_s)

    def _check(self, message_id: str) -> float | None:
        """One check; the seconds until the next, or None when no more are needed."""
        record = self._repo.get(message_id)
        if record is None or record.status.is_final:
            return None  # gone with its TTL, or its final report came: nothing to settle
        if record.status in SENDABLE_STATUSES or record.sinch_id is None:
            return None  # not Sinch's (yet): the sender's own retries and age limit bound it
        asked = self._asked(record)
        if asked is not None:
            return asked or None
        now = utcnow()
        deadline = record.expires_at + self._grace
        if now >= deadline:
            self._expire(record)
            return None
        # Each wait as long as the message's age: a handful of lookups over its days at Sinch.
        age = now - (max(record.created_at, record.send_at) if record.send_at else record.created_at)
        wait = min(max(self._grace, age), deadline - now)
        return max(1.0, wait.total_seconds())

    def _asked(self, record: MessageRecord) -> float | None:
        """Ask Sinch what became of it and apply the answer as a report. None when the check goes
        on; when it is over, 0 (the answer made it final) or the seconds until the shared rate has
        room to ask again."""
        if record.api is not Api.XMS or record.sinch_id is None:
            return None  # the MMS JSON API has no lookup: its postbacks alone can tell
        channel = self._channels[record.api]
        share = self._tenants.policy(record.tenant_id).rate_share(record.tenant_id)
        granted = self._rate.acquire(record.api, share, 1, self._rate_wait_s)
        if not granted.calls:
            return max(1.0, granted.wait_s)  # asked again when the rate has room
        outcome = channel.report(record.sinch_id, record.to)
        metrics.add_metric(name="ReportLookups", unit=MetricUnit.Count, value=1)
        if not isinstance(outcome, StatusReport) or outcome.status is None:
            logger.info(
                "lookup gave no status", extra={"message_id": record.id, "outcome": repr(outcome)[:200]}
            )
            return None
        event = StatusEvent(
            status=outcome.status,
            at=outcome.at,
            code=outcome.code,
            operator_at=outcome.operator_at,
            detail=LOOKED_UP,
        )
        advanced = self._repo.advance(record.id, event, change=Change(delivered_as=outcome.delivered_as))
        if advanced.final is not None:
            final_status(advanced.final.status, advanced.final.tenant_id, advanced.final.created_at)
            metrics.add_metric(name="MessagesSettledByLookup", unit=MetricUnit.Count, value=1)
        logger.info(
            "looked up at Sinch",
            extra={"message_id": record.id, "status": outcome.status, "result": advanced.transition.value},
        )
        over = outcome.status.is_final or advanced.transition is Transition.MISSING
        return 0.0 if over else None

    def _expire(self, record: MessageRecord) -> None:
        how = (
            "a lookup at Sinch found none either"
            if record.api is Api.XMS
            else "Sinch's MMS JSON API has no lookup, and no final postback came"
        )
        text = NO_FINAL_REPORT_TEXT.format(expire_at=record.expires_at.isoformat(), how=how)
        change = Change(error_code=NO_FINAL_REPORT, error_text=text)
        moved = self._repo.transition(
            record.id, Status.EXPIRED, code=NO_FINAL_REPORT, detail=text, change=change
        )
        if moved is Transition.MOVED:
            final_status(Status.EXPIRED, record.tenant_id, record.created_at)
            metrics.add_metric(name="MessagesExpiredWithoutReport", unit=MetricUnit.Count, value=1)
            logger.warning(
                "no final report by its expiry: expired", extra={"message_id": record.id, "api": record.api}
            )
