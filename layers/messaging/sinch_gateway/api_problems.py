"""RFC 9457 problem+json answers for every error a Powertools REST resolver can raise."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from sinch_gateway.errors import GatewayError

PROBLEM_JSON = "application/problem+json"
logger = Logger(child=True)


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Iterable[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> Response[str]:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["errors"] = [{"field": f, "message": m} for f, m in errors]
    body.update(extra or {})
    return Response(
        status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body), headers=dict(headers or {})
    )


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _validation_message(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "is not valid"))
    # pydantic prefixes messages from our own validators; the field name already says where.
    return msg.removeprefix("Value error, ")


def validation_problem(exc: RequestValidationError) -> Response[str]:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(
            400,
            "/problems/invalid-json",
            "The body is not valid JSON",
            "Send a JSON object with Content-Type: application/json.",
        )
    fields: list[tuple[str, str]] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            fields.append((_field_name(loc), "is not a known field"))
        elif err.get("type") == "missing":
            fields.append((_field_name(loc), "is required"))
        else:
            fields.append((_field_name(loc), _validation_message(err)))
    names = ", ".join(sorted({f for f, _ in fields}))
    return problem(
        422,
        "/problems/validation-error",
        "The request is not valid",
        f"Check these fields: {names}.",
        errors=fields,
    )


def register(app: APIGatewayRestResolver) -> None:
    """Make every error of `app` a problem+json answer with no internals in it."""

    @app.exception_handler(RequestValidationError)
    def _on_validation(exc: RequestValidationError) -> Response[str]:
        return validation_problem(exc)

    @app.exception_handler(GatewayError)
    def _on_domain(exc: GatewayError) -> Response[str]:
        return problem(exc.status, exc.type, exc.title, exc.detail, errors=exc.errors, extra=exc.extra)

    @app.exception_handler(ServiceError)
    def _on_service_error(exc: ServiceError) -> Response[str]:
        status = HTTPStatus(exc.status_code)
        return problem(status.value, "about:blank", status.phrase, str(exc.msg))

    @app.not_found
    def _on_not_found(_: NotFoundError) -> Response[str]:
        return problem(
            404,
            "about:blank",
            "Not Found",
            f"No route for {app.current_event.http_method} {app.current_event.path}.",
        )

    @app.exception_handler(Exception)
    def _on_unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return problem(
            500,
            "about:blank",
            "Internal Server Error",
            "Something went wrong on our side; it has been logged.",
        )
