"""RetryFunction: sends what waits on SendQueue, reporting partial batch failures."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway import wiring
from sinch_gateway.send_queue import RETRY_KIND
from sinch_gateway.telemetry import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


class UnknownQueueMessage(ValueError):
    pass


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if not isinstance(body, dict) or body.get("kind") != RETRY_KIND or "messageId" not in body:
        # Left to fail: after maxReceiveCount SQS moves it to the DLQ for a human to look at.
        raise UnknownQueueMessage(f"not a send request this version understands: {record.message_id}")
    with logger.append_context_keys(message_id=body["messageId"]):
        wiring.sender().attempt(str(body["messageId"]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
