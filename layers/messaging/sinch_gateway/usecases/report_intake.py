"""Reports from Sinch (XMS delivery reports; MMS JSON API postbacks): authenticate, read, refuse
replays, then move each message's status forward, keeping every report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.domain.errors import InvalidReport, Unauthenticated
from sinch_gateway.domain.fan_out import reported_message_id
from sinch_gateway.domain.message import Change, StatusEvent
from sinch_gateway.domain.reports import MalformedReport, StatusReport
from sinch_gateway.domain.status import Transition
from sinch_gateway.domain.templates import TemplateReport, TemplateStatus
from sinch_gateway.domain.webhook_auth import WebhookProof
from sinch_gateway.measures import final_status
from sinch_gateway.sinch.mms_postbacks import parse_postback
from sinch_gateway.sinch.xms_reports import parse_delivery_report
from sinch_gateway.usecases.ports import MessageStore
from sinch_gateway.usecases.webhook_authenticator import WebhookAuthenticator

logger = Logger(child=True)
metrics = Metrics()

Result = Literal["moved", "stale", "unknown_message", "unknown_status", "replayed"]
Report = TypeVar("Report", StatusReport, StatusReport | TemplateReport)


class UnmatchedStore(Protocol):
    def keep(
        self,
        batch_id: str,
        raw: str,
        reason: Literal["unknown_message", "unknown_status", "received"],
        kind: str = "unmatched",
        *,
        once: str | None = None,
    ) -> str | None: ...


class TemplateSettler(Protocol):
    def settle(
        self,
        template_id: str,
        status: TemplateStatus,
        *,
        mms_id: str | None = None,
        tracking_id: str | None = None,
        error_code: str | None = None,
        error_text: str | None = None,
    ) -> bool: ...


class ReportIntake:
    def __init__(
        self,
        messages: MessageStore,
        unmatched: UnmatchedStore,
        authenticator: WebhookAuthenticator,
        templates: TemplateSettler,
    ) -> None:
        self._templates = templates
        self._messages = messages
        self._unmatched = unmatched
        self._authenticator = authenticator

    def delivery_report(self, raw: str, proof: WebhookProof) -> Result:
        """A signed (or Basic-authenticated) XMS delivery report. Raises Unauthenticated (401,
        nothing written) or InvalidReport (400); anything else raised is a 5xx, which Sinch retries."""
        verified = self._authenticator.signed_call(raw, proof)
        report = self._read(raw, parse_delivery_report)
        # The nonce is kept by the very write that applies the report, on the message (or the
        # unmatched report) it concerns: a replay is refused by that write's condition, and a
        # report that fails to apply leaves no nonce behind for Sinch's resend to trip on.
        result = self.apply(report, raw, once=verified.nonce.value if verified.nonce else None)
        if result == "replayed":
            metrics.add_metric(name="DeliveryReportsReplayed", unit=MetricUnit.Count, value=1)
            raise Unauthenticated("This signed callback has been received before.")
        return result

    def postback(
        self, raw: str, proof: WebhookProof, *, path_token: str | None, source_ip: str | None
    ) -> Result:
        """An MMS JSON API postback: kept raw, then applied to its message or template. Raises
        Unauthenticated (401, nothing written) or InvalidReport (400)."""
        self._authenticator.postback(proof, path_token=path_token, source_ip=source_ip)
        report = self._read(raw, parse_postback)
        key = report.sinch_id if isinstance(report, StatusReport) else (report.tracking_id or "template")
        self._unmatched.keep(key, raw, "received", kind="postback")
        if isinstance(report, TemplateReport):
            return self._template(report)
        return self.apply(report, raw)

    def _template(self, report: TemplateReport) -> Result:
        log = {"template_id": report.template_id, "code": report.code}
        if not report.template_id:
            logger.warning("template postback without our client reference", extra=log)
            return "unknown_message"
        settled = self._templates.settle(
            report.template_id,
            TemplateStatus.READY if report.ready else TemplateStatus.FAILED,
            mms_id=report.mms_id,
            tracking_id=report.tracking_id,
            error_code=None if report.ready else report.code,
            error_text=None if report.ready else (report.detail or "Sinch could not encode the media"),
        )
        logger.info("template postback applied", extra={**log, "settled": settled})
        return "moved" if settled else "stale"

    def _read(self, raw: str, parse: Callable[[str], Report]) -> Report:
        try:
            return parse(raw)
        except MalformedReport as exc:
            metrics.add_metric(name="DeliveryReportsMalformed", unit=MetricUnit.Count, value=1)
            raise InvalidReport("The body is not a report this endpoint takes.", errors=exc.errors) from None

    def apply(self, report: StatusReport, raw: str, *, once: str | None = None) -> Result:
        """Apply one report; returns what happened (for logs and metrics).

        Every report is kept: as an event on its message (marked stale when it did not move the
        status), or, when no message takes it, as an unmatched report. Duplicate, late and unknown
        reports are normal in Sinch's world: none of them raises. A signed report's nonce `once`
        is kept with it; a report with a nonce kept before is "replayed", and writes nothing.
        """
        result = self._apply(report, raw, once)
        if result == "replayed":
            return result
        metrics.add_metric(name="DeliveryReports", unit=MetricUnit.Count, value=1)
        if result in ("unknown_message", "unknown_status"):
            metrics.add_metric(name="DeliveryReportsUnmatched", unit=MetricUnit.Count, value=1)
        return result

    def _apply(self, report: StatusReport, raw: str, once: str | None) -> Result:
        log = {"batch_id": report.sinch_id, "message_id": report.reference, "report_type": report.kind}
        if report.status is None:
            logger.warning("report with a status we do not know", extra=log)
            return self._unmatched_report(report, raw, "unknown_status", once)
        message_id = reported_message_id(report.reference, report.recipient)
        if not message_id:
            logger.warning("report without our client reference", extra=log)
            return self._unmatched_report(report, raw, "unknown_message", once)
        log["message_id"] = message_id
        event = StatusEvent(
            status=report.status, at=report.at, code=report.code, operator_at=report.operator_at
        )
        change = Change(delivered_as=report.delivered_as)
        advanced = self._messages.advance(message_id, event, once=once, change=change)
        result = advanced.transition
        if result is Transition.REPLAYED:
            return "replayed"
        if advanced.final is not None:
            final_status(advanced.final.status, advanced.final.tenant_id, advanced.final.created_at)
            log["tenant_id"] = advanced.final.tenant_id  # what the runbook's queries group by
        if result is Transition.STALE:
            # The status write is conditional, so it cannot also append when its condition fails
            # (DynamoDB has no per-clause condition): a second write keeps the report as an event.
            stale = event.model_copy(update={"stale": True})
            if not self._messages.append_event(message_id, stale, once=once):
                logger.warning(
                    "stale report not kept: the message is gone, has too many events or took this "
                    "report before",
                    extra=log,
                )
        elif result is Transition.MISSING:
            logger.warning("report for a message we do not have", extra=log)
            return self._unmatched_report(report, raw, "unknown_message", once)
        logger.info(
            "delivery report applied",
            extra={**log, "status": report.status, "code": report.code, "result": result.value},
        )
        return "moved" if result is Transition.MOVED else "stale"

    def _unmatched_report(
        self,
        report: StatusReport,
        raw: str,
        reason: Literal["unknown_message", "unknown_status"],
        once: str | None,
    ) -> Result:
        kept = self._unmatched.keep(report.sinch_id, raw, reason, once=once)
        return reason if kept is not None else "replayed"
