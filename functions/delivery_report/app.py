"""DeliveryReportFunction: Sinch delivery-report webhooks -> message status and events."""

import json
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from sinch_gateway import wiring
from sinch_gateway.api import problems as api_problems
from sinch_gateway.config import get_settings
from sinch_gateway.domain.callbacks import DELIVERY_REPORT_PATH
from sinch_gateway.domain.errors import Unauthenticated
from sinch_gateway.domain.webhook_auth import Nonce, authenticate
from sinch_gateway.telemetry import logger, metrics, tracer
from sinch_gateway.usecases.report_intake import apply_report, delivery_report_adapter

app = APIGatewayRestResolver(enable_validation=True)
api_problems.register(app)


@app.post(DELIVERY_REPORT_PATH, summary="Sinch delivery report callback")
@tracer.capture_method
def delivery_report() -> Response[str]:
    raw = app.current_event.decoded_body or ""
    secrets = wiring.webhook_secrets().get()
    verified = authenticate(
        raw,
        app.current_event.headers,
        hmac_secret=secrets.webhook_hmac_secret,
        basic_credentials=secrets.webhook_basic_credentials,
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
    # After parsing: a report we refuse as malformed leaves no trace, not even its nonce.
    if verified.nonce is not None and not wiring.nonces().claim(verified.nonce):
        metrics.add_metric(name="DeliveryReportsReplayed", unit=MetricUnit.Count, value=1)
        raise Unauthenticated("This signed callback has been received before.")
    try:
        result = apply_report(wiring.repository(), wiring.unmatched_reports(), report, raw)
    except Exception:
        if verified.nonce is not None:
            _forget_nonce(verified.nonce)
        raise  # a 5xx: Sinch retries it
    metrics.add_metric(name="DeliveryReports", unit=MetricUnit.Count, value=1)
    if result in ("unknown_message", "unknown_status"):
        metrics.add_metric(name="DeliveryReportsUnmatched", unit=MetricUnit.Count, value=1)
    return Response(status_code=200, content_type="application/json", body=json.dumps({"result": result}))


def _forget_nonce(nonce: Nonce) -> None:
    try:
        wiring.nonces().release(nonce)
    except (BotoCoreError, ClientError):
        # The original error matters more; at worst an unchanged resend is refused as a replay.
        logger.warning("could not release the nonce of a failed report")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if (rejection := api_problems.reject_undecodable_body(event)) is not None:
        return rejection.proxy()
    return app.resolve(event, context)
