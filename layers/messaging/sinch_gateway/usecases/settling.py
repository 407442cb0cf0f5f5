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

from collections.abc import Mapping
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
from sinch_gateway.usecases.sending import NoRate

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
    ) -> None:
        self._repo = repository
        self._channels = channels
        self._queue = queue
        self._grace = timedelta(seconds=settings.report_grace_s)
        self._rate_wait_s = settings.sinch_rate_wait_s
        self._rate = rate or NoRate()
        self._tenants = tenants

    def settle(self, message_id: str) -> None:
        """One check of a message Sinch accepted; raises only for AWS trouble (SQS delivers the
        check again)."""
        record = self._repo.get(message_id)
        if record is None or record.status.is_final:
            return  # gone with its TTL, or its final report came: nothing to settle
        if record.status in SENDABLE_STATUSES or record.sinch_id is None:
            return  # not Sinch's (yet): the sender's own retries and age limit bound it
        if self._asked(record):
            return
        now = utcnow()
        deadline = record.expires_at + self._grace
        if now >= deadline:
            self._expire(record)
            return
        # Each wait as long as the message's age: a handful of lookups over its days at Sinch.
        age = now - (max(record.created_at, record.send_at) if record.send_at else record.created_at)
        wait = min(max(self._grace, age), deadline - now)
        self._queue.enqueue_settle(record.id, max(1.0, wait.total_seconds()))

    def _asked(self, record: MessageRecord) -> bool:
        """Ask Sinch what became of it and apply the answer as a report. True when this check is
        over: the answer made it final, or the shared rate had no room (the check comes back)."""
        if record.api is not Api.XMS or record.sinch_id is None:
            return False  # the MMS JSON API has no lookup: its postbacks alone can tell
        channel = self._channels[record.api]
        share = self._tenants.policy(record.tenant_id).rate_share(record.tenant_id)
        granted = self._rate.acquire(record.api, share, 1, self._rate_wait_s)
        if not granted.calls:
            self._queue.enqueue_settle(record.id, max(1.0, granted.wait_s))
            return True  # asked again when the rate has room: this check ends here
        outcome = channel.report(record.sinch_id, record.to)
        metrics.add_metric(name="ReportLookups", unit=MetricUnit.Count, value=1)
        if not isinstance(outcome, StatusReport) or outcome.status is None:
            logger.info(
                "lookup gave no status", extra={"message_id": record.id, "outcome": repr(outcome)[:200]}
            )
            return False
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
        return outcome.status.is_final or advanced.transition is Transition.MISSING

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
