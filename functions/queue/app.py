"""QueueFunction: sends what waits on SendQueue (retries, published requests, batches' slices),
reporting partial batch failures."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway import config, wiring
from sinch_gateway.api.queue_bodies import in_turn_order, read_queued
from sinch_gateway.telemetry import logger, metrics, tracer

services = wiring.QueueServices(config.load(config.QueueSettings))

# A batch whose every record failed is reported like a partial one (all ids listed) instead of
# raised: the raised error's text would carry each record's exception into Lambda's own log.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    # Raises only for what may pass on a second try (AWS or Sinch trouble, or too little of the
    # invocation left for its media): SQS redelivers that.
    tenant = record.message_attributes["tenant"]
    with logger.append_context_keys(sqs_message_id=record.message_id):
        services.queue_intake.handle(
            read_queued(record.body),
            record.body,
            record.message_id,
            tenant.string_value if tenant else None,
            sender_id=record.attributes.get("SenderId"),  # the publishing principal, as SQS says
            time_left_s=lambda_context.get_remaining_time_in_millis() / 1000,
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = event.get("Records") or []
    event = {**event, "Records": [records[i] for i in in_turn_order([r.get("body", "") for r in records])]}
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
