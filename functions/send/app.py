"""SendFunction: the public messages API (POST /v1/messages, GET /v1/messages/{id}, GET /health)."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway import api_problems, wiring
from sinch_gateway.callbacks import delivery_report_url
from sinch_gateway.config import get_settings
from sinch_gateway.errors import MessageNotFound, SinchRejected, SinchUnavailable
from sinch_gateway.media import check_media_url
from sinch_gateway.models import Health, MessageAccepted, MessageView, SendMessageRequest
from sinch_gateway.status import Status
from sinch_gateway.telemetry import logger, metrics, tracer

app = APIGatewayRestResolver(enable_validation=True)
api_problems.register(app)


@app.post("/v1/messages", summary="Send an SMS or MMS", responses={202: {"description": "Accepted"}})
@tracer.capture_method
def send_message(message: SendMessageRequest) -> Response[MessageAccepted]:
    settings = get_settings()
    if message.media_url is not None:
        check_media_url(str(message.media_url), allow_http=settings.allow_http_media)
    context = app.current_event.request_context
    callback_url = delivery_report_url(settings.public_base_url, context.domain_name, context.stage)
    record = wiring.sender().submit(message, callback_url)
    if record.status is Status.REJECTED:
        raise SinchRejected(
            record.error_text or "Sinch refused the message.",
            errors=[("", f"Sinch error {record.error_code}")],
            extra={"messageId": record.id, "sinchCode": record.error_code},
        )
    if record.status is Status.FAILED:
        raise SinchUnavailable(
            "The message was recorded as failed; the operator must fix the Sinch credentials.",
            extra={"messageId": record.id},
        )
    return Response(
        status_code=202,
        content_type="application/json",
        body=record.accepted_view(),
        headers={"Location": f"/v1/messages/{record.id}"},
    )


@app.get("/v1/messages/<id>", summary="A message and its status history")
@tracer.capture_method
def get_message(id: str) -> MessageView:  # the name is the path parameter's, as in template.yaml
    record = wiring.repository().get(id)
    if record is None:
        raise MessageNotFound(f"No message with id {id}.")
    return record.view()


@app.get("/health", summary="Liveness")
def health() -> Health:
    return Health()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
