"""Domain errors. The HTTP layer (api_problems) turns each into an RFC 9457 problem."""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    type = "about:blank"
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[tuple[str, str]] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}


class InvalidRequest(GatewayError):
    status = 422
    type = "/problems/validation-error"
    title = "The request is not valid"


class MessageNotFound(GatewayError):
    status = 404
    type = "/problems/not-found"
    title = "No such message"


class SinchRejected(GatewayError):
    """Sinch refused the message for good (4xx); it will not be retried."""

    status = 422
    type = "/problems/sinch-rejected"
    title = "Sinch rejected the message"


class SinchUnavailable(GatewayError):
    """Sinch could not be used at all (credentials refused): the operator must act."""

    status = 502
    type = "/problems/sinch-unavailable"
    title = "Sinch refused our credentials"


class Unauthenticated(GatewayError):
    status = 401
    type = "/problems/unauthenticated"
    title = "Authentication failed"
