"""WebhookFunction: Sinch delivery-report webhooks -> message status and events."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway import config, wiring
from sinch_gateway.api import problems as api_problems
from sinch_gateway.api.webhook_proof import offered_proof
from sinch_gateway.domain.webhooks import DELIVERY_REPORT_PATH, INBOUND_PATH, MMS_POSTBACK_PATH
from sinch_gateway.telemetry import logger, metrics, tracer

services = wiring.WebhookServices(config.load(config.WebhookSettings))
app = APIGatewayRestResolver(enable_validation=True)
api_problems.register(app)


@app.post(DELIVERY_REPORT_PATH, summary="Sinch delivery report webhook")
@tracer.capture_method
def delivery_report() -> Response[str]:
    event = app.current_event
    result = services.report_intake.delivery_report(event.decoded_body or "", offered_proof(event.headers))
    return Response(status_code=200, content_type="application/json", body=json.dumps({"result": result}))


@app.post(MMS_POSTBACK_PATH, summary="Sinch MMS JSON API postback (Basic userinfo in its URL)")
@app.post(f"{MMS_POSTBACK_PATH}/<token>", summary="Sinch MMS JSON API postback (a token in its URL)")
@tracer.capture_method
def mms_postback(token: str | None = None) -> Response[str]:
    event = app.current_event
    result = services.report_intake.postback(
        event.decoded_body or "",
        offered_proof(event.headers),
        path_token=token,
        source_ip=event.request_context.identity.source_ip,
    )
    return Response(status_code=200, content_type="application/json", body=json.dumps({"result": result}))


@app.post(
    INBOUND_PATH,
    summary="Sinch inbound SMS and MMS (mo_text, mo_media): STOP and START keywords, kept per tenant",
)
@tracer.capture_method
def inbound() -> Response[str]:
    event = app.current_event
    result = services.inbound_intake.receive(event.decoded_body or "", offered_proof(event.headers))
    return Response(status_code=200, content_type="application/json", body=json.dumps({"result": result}))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if (rejection := api_problems.reject_undecodable_body(event)) is not None:
        return rejection.proxy()
    return app.resolve(event, context)
