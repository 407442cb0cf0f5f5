"""DeliveryReportFunction: Sinch delivery-report webhooks -> message status."""

import json
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from sinch_gateway import api_problems, wiring
from sinch_gateway.callbacks import DELIVERY_REPORT_PATH
from sinch_gateway.config import get_settings
from sinch_gateway.delivery_reports import apply_report, delivery_report_adapter
from sinch_gateway.errors import Unauthenticated
from sinch_gateway.telemetry import logger, metrics, tracer
from sinch_gateway.webhook_auth import verify_signature

app = APIGatewayRestResolver(enable_validation=True)
api_problems.register(app)


@app.post(DELIVERY_REPORT_PATH, summary="Sinch delivery report callback")
@tracer.capture_method
def delivery_report() -> Response[str]:
    raw = app.current_event.decoded_body or ""
    secret = wiring.credentials().get().webhook_secret
    if secret is None or not secret.get_secret_value():
        # An empty key would make every signature forgeable: refuse rather than accept all.
        raise Unauthenticated("Webhook authentication is not configured.")
    verify_signature(
        secret.get_secret_value(),
        raw,
        app.current_event.headers,
        now=time.time(),
        tolerance_s=get_settings().webhook_tolerance_s,
    )
    try:
        report = delivery_report_adapter.validate_json(raw)
    except ValidationError as exc:
        metrics.add_metric(name="DeliveryReportsMalformed", unit=MetricUnit.Count, value=1)
        fields = [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        return api_problems.problem(
            400, "/problems/invalid-delivery-report", "Not a delivery report we understand", errors=fields
        )
    result = apply_report(wiring.repository(), report)
    metrics.add_metric(name="DeliveryReports", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, content_type="application/json", body=json.dumps({"result": result}))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
