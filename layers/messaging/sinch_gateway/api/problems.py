"""RFC 9457 problem+json answers for every error a Powertools REST resolver can raise."""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from sinch_gateway.api.models import Problem, error_field, validation_message
from sinch_gateway.domain.errors import (
    AllRecipientsRefused,
    BatchNotFound,
    Conflict,
    DestinationNotAllowed,
    GatewayError,
    InvalidInbound,
    InvalidReport,
    InvalidRequest,
    InvalidToken,
    MediaUnavailable,
    MessageNotFound,
    MmsNotAllowed,
    NoTenant,
    SenderNotAllowed,
    SinchForbidden,
    SinchMisconfigured,
    SinchRejected,
    SinchUnavailable,
    TemplateNotFound,
    Unauthenticated,
)
from sinch_gateway.domain.inbound import RecipientOptedOut

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024
# A batch names up to 10,000 recipients, each with its parameters' values; Lambda takes at most
# 6 MB per synchronous request.
MAX_BATCH_BODY_BYTES = 5 * 1024 * 1024
BATCH_RESOURCE = "/v1/batches"
# A request can fail on thousands of fields (10,000 numbers in a batch): the first are listed.
MAX_LISTED_ERRORS = 100
# Why json.loads refused what is JSON by its grammar: our words, said in the 400's detail.
NESTED_TOO_DEEPLY = "it is nested too deeply"
NUMBER_TOO_LONG = f"a number in it has more than {sys.get_int_max_str_digits()} digits"
logger = Logger(child=True)


@dataclass(frozen=True)
class HttpAnswer:
    """An answer as plain data, so that it can be stored and replayed byte for byte."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response[str]:
        return Response(status_code=self.status, body=self.body, headers=self.headers)

    def proxy(self) -> dict[str, Any]:
        """As a Lambda proxy integration result, for answers given before the resolver runs."""
        return {
            "statusCode": self.status,
            "headers": self.headers,
            "body": self.body,
            "isBase64Encoded": False,
        }

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "headers": self.headers}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HttpAnswer:
        return cls(int(data["status"]), str(data["body"]), dict(data["headers"]))


def problem_answer(
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    *,
    errors: Iterable[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> HttpAnswer:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["errors"] = [{"field": f, "message": m} for f, m in errors]
    body.update(extra or {})
    return HttpAnswer(status, json.dumps(body), {"Content-Type": PROBLEM_JSON, **(headers or {})})


@dataclass(frozen=True)
class ProblemKind:
    """What one kind of domain error is to an HTTP client."""

    status: int
    type: str
    title: str


# The most specific class listed wins (GatewayError itself: anything else).
PROBLEM_KINDS: dict[type[GatewayError], ProblemKind] = {
    GatewayError: ProblemKind(500, "about:blank", "Internal error"),
    InvalidRequest: ProblemKind(422, "/problems/validation-error", "The request is not valid"),
    MediaUnavailable: ProblemKind(422, "/problems/media-unavailable", "The media could not be fetched now"),
    DestinationNotAllowed: ProblemKind(422, "/problems/destination-not-allowed", "Destination not allowed"),
    MmsNotAllowed: ProblemKind(422, "/problems/mms-not-allowed", "MMS not allowed"),
    SenderNotAllowed: ProblemKind(422, "/problems/sender-not-allowed", "Sender not allowed"),
    RecipientOptedOut: ProblemKind(422, "/problems/recipient-opted-out", "Recipient opted out"),
    NoTenant: ProblemKind(403, "/problems/no-api-key", "No API key"),
    InvalidToken: ProblemKind(400, "/problems/invalid-token", "The continuation token is not valid"),
    MessageNotFound: ProblemKind(404, "/problems/not-found", "No such message"),
    TemplateNotFound: ProblemKind(404, "/problems/not-found", "No such template"),
    BatchNotFound: ProblemKind(404, "/problems/not-found", "No such batch"),
    AllRecipientsRefused: ProblemKind(422, "/problems/all-recipients-refused", "Every recipient was refused"),
    Conflict: ProblemKind(409, "/problems/conflict", "Conflict"),
    SinchRejected: ProblemKind(422, "/problems/sinch-rejected", "Sinch rejected the message"),
    SinchForbidden: ProblemKind(422, "/problems/sinch-forbidden", "Sinch refused to send the message"),
    SinchMisconfigured: ProblemKind(
        502, "/problems/sinch-misconfigured", "The gateway's Sinch setup is wrong"
    ),
    SinchUnavailable: ProblemKind(503, "/problems/sinch-unavailable", "Sinch is unavailable"),
    Unauthenticated: ProblemKind(401, "/problems/unauthenticated", "Authentication failed"),
    InvalidReport: ProblemKind(
        400, "/problems/invalid-delivery-report", "Not a delivery report we understand"
    ),
    InvalidInbound: ProblemKind(
        400, "/problems/invalid-inbound-message", "Not an inbound message we understand"
    ),
}


def problem_kind(exc: GatewayError) -> ProblemKind:
    return next(PROBLEM_KINDS[cls] for cls in type(exc).__mro__ if cls in PROBLEM_KINDS)


def error_answer(exc: GatewayError) -> HttpAnswer:
    kind = problem_kind(exc)
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else {}
    return problem_answer(
        kind.status, kind.type, kind.title, exc.detail, errors=exc.errors, headers=headers, extra=exc.extra
    )


def problem(status: int, type_: str, title: str, detail: str | None = None, **kwargs: Any) -> Response[str]:
    return problem_answer(status, type_, title, detail, **kwargs).response()


def documented(success: Mapping[int, tuple[str, type[Any]]], *problems: int) -> dict[int, Any]:
    """A route's documented answers: its successes, and as problems these statuses and 422."""
    answers: dict[int, Any] = {
        status: {"description": description, "content": {"application/json": {"model": model}}}
        for status, (description, model) in success.items()
    }
    content = {PROBLEM_JSON: {"model": Problem}}
    for status in sorted({*problems, 422}):
        answers[status] = {"description": HTTPStatus(status).phrase, "content": content}
    return answers


def _field_name(error: Mapping[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    if len(loc) == 2 and loc[0] == "header":
        # API Gateway lowercases nothing, Powertools everything: name the header as documented.
        return "-".join(part.capitalize() for part in str(loc[1]).split("-"))
    return error_field({**error, "loc": [p for p in loc if p not in ("body", "query", "path")]})


def validation_problem(exc: RequestValidationError) -> Response[str]:
    errors = list(exc.errors())
    if invalid := [e for e in errors if e.get("type") == "json_invalid"]:
        reason = (invalid[0].get("ctx") or {}).get("error")
        why = f"The body cannot be read: {reason}. " if reason in (NESTED_TOO_DEEPLY, NUMBER_TOO_LONG) else ""
        return problem(
            400,
            "/problems/invalid-json",
            "The body is not valid JSON",
            f"{why}Send a JSON object with Content-Type: application/json.",
        )
    fields = [(_field_name(e), validation_message(e)) for e in errors]
    listed = fields[:MAX_LISTED_ERRORS]
    names = ", ".join(sorted({f for f, _ in listed}))
    more = f" ({len(fields) - len(listed)} more errors not listed)" if len(fields) > len(listed) else ""
    return problem(
        422,
        "/problems/validation-error",
        "The request is not valid",
        f"Check these fields: {names}.{more}",
        errors=listed,
    )


def _header(event: Mapping[str, Any], name: str) -> str | None:
    # The last of the names that differ only in case, as Powertools reads headers.
    found = None
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            found = str(value)
    return found


def _body_text(event: Mapping[str, Any]) -> str | None:
    """The body as the text it stands for; None when it is not UTF-8 (JSON is UTF-8)."""
    body = str(event["body"])
    try:
        if event.get("isBase64Encoded"):
            return base64.b64decode(body, validate=True).decode("utf-8")
        body.encode("utf-8")  # a lone surrogate in the event's string is no character
    except (binascii.Error, UnicodeError):
        return None
    return body


def _not_utf8() -> HttpAnswer:
    return problem_answer(
        400, "/problems/invalid-json", "The body is not valid JSON", "The body is not UTF-8 text."
    )


def reject_undecodable_body(event: Mapping[str, Any]) -> HttpAnswer | None:
    """A 400 for a body that is not text: it would otherwise fail deep inside the resolver as a 500."""
    if event.get("body") is None or _body_text(event) is not None:
        return None
    return _not_utf8()


def reject_unreadable_body(event: Mapping[str, Any]) -> HttpAnswer | None:
    """413 and 415 come before any parsing, so a client learns the real reason first."""
    if event.get("httpMethod") not in ("POST", "PUT", "PATCH") or event.get("body") is None:
        return None
    body = str(event["body"])
    # A base64 body is measured as the bytes it stands for (4 characters carry 3, less padding).
    if event.get("isBase64Encoded"):
        size = len(body) * 3 // 4 - body[-2:].count("=")
    else:
        size = len(body.encode("utf-8", "surrogatepass"))
    limit = MAX_BATCH_BODY_BYTES if event.get("resource") == BATCH_RESOURCE else MAX_BODY_BYTES
    if size > limit:
        return problem_answer(
            413, "/problems/body-too-large", "The body is too large", f"At most {limit} bytes."
        )
    if _body_text(event) is None:
        return _not_utf8()
    # Exactly as the resolver will read it: it takes "application/json" in lower case only.
    media_type = (_header(event, "content-type") or "").split(";")[0].strip()
    if media_type != "application/json":
        return unsupported_media_type(media_type)
    return None


def unsupported_media_type(media_type: str) -> HttpAnswer:
    return problem_answer(
        415,
        "/problems/unsupported-media-type",
        "Unsupported Content-Type",
        f"Send application/json, not {media_type[:100] or 'no Content-Type'}.",
    )


def json_body(text: str) -> Any:
    """The resolvers' JSON parser: a body nested past Python's recursion limit, or with an integer
    longer than Python converts (sys.get_int_max_str_digits: a ValueError), is invalid JSON like any
    other, not a 500."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(NESTED_TOO_DEEPLY, text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        raise json.JSONDecodeError(NUMBER_TOO_LONG, text, 0) from None


def _allowed_methods(app: APIGatewayRestResolver, path: str) -> list[str]:
    # Powertools has no public "which methods match this path": its route lists are read directly.
    routes = app._static_routes + app._dynamic_routes
    return sorted({r.method for r in routes if r.rule.match(path)})


def register(app: APIGatewayRestResolver) -> None:
    """Make every error of `app` a problem+json answer with no internals in it."""

    @app.exception_handler(RequestValidationError)
    def _on_validation(exc: RequestValidationError) -> Response[str]:
        return validation_problem(exc)

    @app.exception_handler(RequestUnsupportedContentType)
    def _on_content_type(_: RequestUnsupportedContentType) -> Response[str]:
        # Where no check of ours came first: a body the resolver cannot read is still a 415.
        return unsupported_media_type(app.current_event.headers.get("content-type", "")).response()

    @app.exception_handler(GatewayError)
    def _on_domain(exc: GatewayError) -> Response[str]:
        return error_answer(exc).response()

    @app.exception_handler(ServiceError)
    def _on_service_error(exc: ServiceError) -> Response[str]:
        status = HTTPStatus(exc.status_code)
        return problem(status.value, "about:blank", status.phrase, str(exc.msg))

    @app.not_found
    def _on_not_found(_: NotFoundError) -> Response[str]:
        method, path = app.current_event.http_method, app.current_event.path
        allowed = _allowed_methods(app, path)
        if allowed:
            return problem(
                405,
                "/problems/method-not-allowed",
                "Method Not Allowed",
                f"{path} accepts {', '.join(allowed)}, not {method}.",
                headers={"Allow": ", ".join(allowed)},
            )
        return problem(404, "/problems/no-such-route", "Not Found", f"No route for {method} {path}.")

    @app.exception_handler(Exception)
    def _on_unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return problem(
            500,
            "about:blank",
            "Internal Server Error",
            "Something went wrong on our side; it has been logged.",
        )
