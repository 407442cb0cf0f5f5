"""Powertools Logger, Tracer and Metrics, set up once for every function.

No log line and no trace may carry a phone number, a message text or a secret. Every log record
is redacted as it is formatted, and trace segments leave without exception messages
(sinch_gateway.redaction). Tracer's own response and error capture is off for every function
(template.yaml, Globals).
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# Tracer imports the X-Ray SDK in any case (it is its provider): nothing more to load here.
from aws_xray_sdk.core import xray_recorder  # type: ignore[import-untyped]

from sinch_gateway.redaction import MessageFreeEmitter, RedactingFormatter

# A read, or a retry that finds nothing left to do, adds no metric: expected, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(logger_formatter=RedactingFormatter())
# botocore only: what patch_all gives us anyway (it leaves httplib alone), without importing and
# patching sqlite3, requests, httpx, ... on every cold start.
tracer = Tracer(patch_modules=("botocore",))
if not tracer.disabled:
    xray_recorder.configure(emitter=MessageFreeEmitter())
metrics = Metrics()
