"""The service's metrics that carry dimensions of their own (CloudWatch EMF, through Powertools).

The function-wide `Metrics()` puts one dimension set on everything it flushes at the end of an
invocation: these metrics are written at once instead, each with its own dimension sets. The
alarms and dashboard in observability.yaml read them by these names and dimensions
(tests/integration/test_emitted_metrics.py); docs/operations.md says what each counts and why a
tenant dimension is only on two of them (each combination is a billed custom metric).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import urllib3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.status import Status

# How a call to Sinch ended. Besides the HTTP classes: the connection never opened (Sinch did not
# get the request), or no answer came back in time or the connection dropped (it may have).
CONNECT_ERROR = "connect_error"
NO_ANSWER = "no_answer"


def answer_class(http_status: int) -> str:
    """ "2xx", "4xx", "5xx"...; 429 on its own: it says "slower", not "wrong"."""
    return "429" if http_status == 429 else f"{http_status // 100}xx"


def _emit(name: str, unit: MetricUnit, value: float, *dimension_sets: dict[str, str]) -> None:
    """One EMF record: `value` under every dimension set (each with `service`)."""
    emf = AmazonCloudWatchEMFProvider()
    if not emf.namespace:
        return  # not in a function (tools, unit tests): the functions' environment names it
    emf.add_metric(name=name, unit=unit, value=value)
    first, *more = dimension_sets
    for key, dimension in first.items():
        emf.add_dimension(name=key, value=dimension)
    service = {"service": str(emf.service)} if emf.service else {}
    for extra in more:
        emf.add_dimensions(**service, **extra)
    emf.flush_metrics()


def timed_sinch_call(api: str, request: Callable[[], urllib3.BaseHTTPResponse]) -> urllib3.BaseHTTPResponse:
    """Make one HTTP call to a Sinch API, recording how long it took and how it ended
    (`SinchCallLatency`, by api and answer class, and by api alone)."""
    started = time.monotonic()

    def ended(answer: str) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        _emit(
            "SinchCallLatency",
            MetricUnit.Milliseconds,
            elapsed_ms,
            {"api": api, "answer": answer},
            {"api": api},
        )

    try:
        response = request()
    except (ConnectTimeoutError, NewConnectionError):
        ended(CONNECT_ERROR)
        raise
    except HTTPError:
        ended(NO_ANSWER)
        raise
    ended(answer_class(response.status))
    return response


def message_accepted(tenant_id: str) -> None:
    """`MessagesAccepted`: in all and per tenant."""
    _emit("MessagesAccepted", MetricUnit.Count, 1, {}, {"tenant": tenant_id})


def final_status(status: Status, tenant_id: str, accepted_at: datetime | None) -> None:
    """`FinalStatus` by status, in all and per tenant; `TimeToFinalStatus` (accepted to final) by
    status, for a message that was accepted (not one refused on arrival)."""
    by_status = {"status": status.value}
    _emit("FinalStatus", MetricUnit.Count, 1, by_status, {**by_status, "tenant": tenant_id})
    if accepted_at is not None:
        elapsed_ms = max(0.0, (utcnow() - accepted_at).total_seconds() * 1000)
        _emit("TimeToFinalStatus", MetricUnit.Milliseconds, elapsed_ms, by_status)
