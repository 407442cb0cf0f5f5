"""CallbackQueue (SQS FIFO, one message group per message) and its own dead-letter queue."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sinch_gateway.data.queue_text import sqs_text, string_attributes
from sinch_gateway.domain.status_callbacks import QueuedCallback

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class CallbackQueue:
    def __init__(self, client: SQSClient, queue_url: str, dead_letter_url: str) -> None:
        self._sqs = client
        self._url = queue_url
        self._dead_letter_url = dead_letter_url

    def enqueue(self, callback: QueuedCallback) -> None:
        # The group keeps one message's callbacks in order; the deduplication id drops a stream
        # record handed over twice (within SQS's 5-minute window).
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=callback.queue_body(),
            MessageGroupId=callback.callback.id,
            MessageDeduplicationId=callback.deduplication_id,
        )

    def postpone(self, receipt_handle: str, delay_s: int) -> None:
        """The message comes back in `delay_s`; its group waits for it (FIFO)."""
        self._sqs.change_message_visibility(
            QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay_s
        )

    def dead_letter(self, body: str, reason: str) -> None:
        body = sqs_text(body)
        self._sqs.send_message(
            QueueUrl=self._dead_letter_url,
            MessageBody=body,
            MessageGroupId="dead-letters",
            MessageDeduplicationId=hashlib.sha256(body.encode()).hexdigest(),
            MessageAttributes=string_attributes(reason=reason),
        )
