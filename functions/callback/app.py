"""CallbackFunction: status callbacks to the caller, in two steps with one function.

- MessagesTable's stream: each status change of a message with a statusCallbackUrl goes to
  CallbackQueue (FIFO, grouped by message id), in stream order.
- CallbackQueue: each callback is signed and POSTed (a batch's messages side by side); one that is
  not taken comes back after its backoff, and its message's later callbacks wait behind it; a
  receiver that keeps failing is held, its callbacks put back without a POST.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway import config, wiring
from sinch_gateway.telemetry import logger, metrics, tracer
from sinch_gateway.usecases.status_callbacks import QueuedRecord

services = wiring.CallbackServices(config.load(config.CallbackSettings))


def deliver(event: SQSEvent) -> PartialItemFailureResponse:
    records = [
        QueuedRecord(
            message_id=record.message_id,
            group=record.attributes.message_group_id or "",
            body=record.body,
            receipt_handle=record.receipt_handle,
            queued_at_s=int(record.attributes.sent_timestamp) / 1000,
            receive_count=int(record.attributes.approximate_receive_count),
        )
        for record in event.records
    ]
    failed = services.delivery.handle_batch(records)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def dispatch(event: DynamoDBStreamEvent) -> None:
    """In order. A change that cannot be queued fails the invocation: Lambda takes the batch again,
    split in halves (BisectBatchOnFunctionError) until that record is alone, and after
    MaximumRetryAttempts puts its place in the stream on MessageChangesDeadLetterQueue and goes on.
    No later change of a message overtakes an earlier one; one queued twice is dropped by the
    queue's deduplication."""
    for record in event.records:
        stream = record.dynamodb
        if stream is None:
            continue
        try:
            services.dispatch.handle(stream.old_image or None, stream.new_image or None)
        except Exception:
            logger.exception(
                "a status change could not be queued", extra={"sequence_number": stream.sequence_number}
            )
            raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | None:
    records = event.get("Records") or [{}]
    if records[0].get("eventSource") == "aws:dynamodb":
        dispatch(DynamoDBStreamEvent(event))
        return None
    return deliver(SQSEvent(event))
