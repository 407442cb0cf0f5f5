"""Sending a message: record it, hand it to Sinch once, and decide what each outcome means."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.config import Settings
from sinch_gateway.errors import MessageNotFound
from sinch_gateway.message import MessageRecord
from sinch_gateway.models import Channel, SendMessageRequest, StatusEvent
from sinch_gateway.phone import mask
from sinch_gateway.repository import MessageRepository, Transition
from sinch_gateway.retry_policy import next_delay
from sinch_gateway.segments import count_segments
from sinch_gateway.send_queue import SendQueue
from sinch_gateway.sinch.xms import Accepted, AuthFailed, OutboundMessage, Refused, Transient, XmsClient
from sinch_gateway.status import Status

logger = Logger(child=True)
metrics = Metrics()


class MessageSender:
    def __init__(
        self, repository: MessageRepository, xms: XmsClient, queue: SendQueue, settings: Settings
    ) -> None:
        self._repo = repository
        self._xms = xms
        self._queue = queue
        self._settings = settings

    def submit(self, request: SendMessageRequest, callback_url: str) -> MessageRecord:
        """Record a new message, then make its first send attempt."""
        segments = count_segments(request.text or "") if request.channel is Channel.SMS else None
        record = MessageRecord(
            channel=request.channel,
            to=request.to,
            text=request.text,
            media_url=str(request.media_url) if request.media_url else None,
            subject=request.subject,
            client_reference=request.client_reference,
            callback_url=callback_url,
            segments=segments.segments if segments else None,
            encoding=segments.encoding if segments else None,
        ).expire_after(self._settings.message_ttl_days)
        record.events.append(StatusEvent(status=Status.ACCEPTED, at=record.created_at))
        # Created already claimed for its first attempt: one write fewer on the API's hot path.
        record = self._repo.create_claimed(record, self._settings.send_lease_s)
        logger.info(
            "message accepted",
            extra={"message_id": record.id, "channel": record.channel, "to": mask(record.to)},
        )
        metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
        return self._send(record)

    def attempt(self, message_id: str) -> MessageRecord:
        """One send attempt, if the message still needs one and nobody else is sending it."""
        record = self._repo.claim(message_id, self._settings.send_lease_s)
        if record is None:
            current = self._repo.get(message_id)
            if current is None:
                raise MessageNotFound(f"No message with id {message_id}.")
            logger.info(
                "not sending: already handled or being sent",
                extra={"message_id": message_id, "status": current.status},
            )
            return current
        return self._send(record)

    def _send(self, record: MessageRecord) -> MessageRecord:
        """Hand a claimed message to Sinch and record what came of it."""
        outcome = self._xms.send(
            OutboundMessage(
                to=record.to,
                client_reference=record.id,
                callback_url=record.callback_url or "",
                text=record.text,
                media_url=record.media_url,
                subject=record.subject,
            )
        )
        log = {"message_id": record.id, "attempt": record.attempts}
        match outcome:
            case Accepted(batch_id):
                metrics.add_metric(name="SinchAccepted", unit=MetricUnit.Count, value=1)
                logger.info("Sinch accepted the batch", extra={**log, "batch_id": batch_id})
                moved = self._repo.transition(
                    record.id, Status.SUBMITTED, detail=f"batch {batch_id}", batchId=batch_id
                )
                if moved is not Transition.MOVED:  # a delivery report was faster than us
                    self._repo.set_batch(record.id, batch_id)
                return record.model_copy(update={"status": Status.SUBMITTED, "batch_id": batch_id})
            case Refused(http_status, code, text):
                metrics.add_metric(name="SinchRejected", unit=MetricUnit.Count, value=1)
                logger.warning(
                    "Sinch refused the message", extra={**log, "http_status": http_status, "code": code}
                )
                return self._end(record, Status.REJECTED, code, text)
            case AuthFailed(detail):
                metrics.add_metric(name="SinchAuthFailures", unit=MetricUnit.Count, value=1)
                logger.error("Sinch refused our credentials, also after refreshing them", extra=log)
                return self._end(record, Status.FAILED, "sinch_unauthorized", detail)
            case Transient(reason, retry_after_s, _):
                metrics.add_metric(name="SinchTransientFailures", unit=MetricUnit.Count, value=1)
                return self._retry_later(record, reason, retry_after_s)

    def _end(self, record: MessageRecord, status: Status, code: str, text: str) -> MessageRecord:
        self._repo.transition(record.id, status, code=code, detail=text, errorCode=code, errorText=text)
        return record.model_copy(update={"status": status, "error_code": code, "error_text": text})

    def _retry_later(self, record: MessageRecord, reason: str, retry_after_s: float | None) -> MessageRecord:
        if record.attempts >= self._settings.max_send_attempts:
            logger.warning(
                "giving up after the last attempt",
                extra={"message_id": record.id, "attempts": record.attempts, "reason": reason},
            )
            return self._end(
                record,
                Status.FAILED,
                "retries_exhausted",
                f"{record.attempts} attempts; last error: {reason}",
            )
        delay = next_delay(
            record.attempts,
            base_s=self._settings.retry_base_delay_s,
            cap_s=self._settings.retry_max_delay_s,
            retry_after_s=retry_after_s,
        )
        # Enqueue before recording: if we die in between, the lease expires and the queued
        # retry still finds the message sendable.
        self._queue.enqueue_retry(record.id, delay)
        self._repo.transition(record.id, Status.RETRYING, detail=reason)
        logger.info(
            "will retry",
            extra={
                "message_id": record.id,
                "attempt": record.attempts,
                "reason": reason,
                "delay_s": round(delay, 2),
            },
        )
        return record.model_copy(update={"status": Status.RETRYING})
