"""SendQueue: where a message waits for its next send attempt."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SQS_MAX_DELAY_S = 900
RETRY_KIND = "retry"


class SendQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def enqueue_retry(self, message_id: str, delay_s: float) -> None:
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps({"kind": RETRY_KIND, "messageId": message_id}),
            DelaySeconds=max(0, min(SQS_MAX_DELAY_S, round(delay_s))),
        )
