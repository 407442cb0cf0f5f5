"""SendQueue, where a message waits for its next attempt, and the DeadLetterQueue beside it."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_MAX_DELAY_S = 900
RETRY_KIND = "retry"


class SendQueue:
    def __init__(self, client: SQSClient, queue_url: str, dead_letter_url: str) -> None:
        self._sqs = client
        self._url = queue_url
        self._dead_letter_url = dead_letter_url

    def enqueue_retry(self, message_id: str, delay_s: float) -> None:
        body: dict[str, Any] = {"kind": RETRY_KIND, "messageId": message_id}
        if delay_s > SQS_MAX_DELAY_S:
            # SQS delays at most 15 minutes: the rest of the wait is carried in the message.
            body["notBefore"] = round(time.time() + delay_s, 3)
        self.delay(body, delay_s)

    def delay(self, body: dict[str, Any], delay_s: float) -> None:
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps(body),
            DelaySeconds=max(0, min(SQS_MAX_DELAY_S, round(delay_s))),
        )

    def dead_letter(self, body: str, reason: str, message_id: str | None) -> None:
        """Park what will not be sent, with why, for a person to look at."""
        attributes: dict[str, Any] = {"reason": {"DataType": "String", "StringValue": reason[:1000]}}
        if message_id:
            attributes["messageId"] = {"DataType": "String", "StringValue": message_id}
        self._sqs.send_message(QueueUrl=self._dead_letter_url, MessageBody=body, MessageAttributes=attributes)
