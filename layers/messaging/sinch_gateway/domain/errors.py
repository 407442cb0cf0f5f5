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
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}
        self.retry_after_s = retry_after_s  # when asking again may work


class InvalidRequest(GatewayError):
    status = 422
    type = "/problems/validation-error"
    title = "The request is not valid"


class MediaUnavailable(InvalidRequest):
    """Media that could not be fetched now (its host unreachable, too slow, or answering 5xx) and
    may pass on a later try: never an answer to keep under an Idempotency-Key."""

    type = "/problems/media-unavailable"
    title = "The media could not be fetched now"


class DestinationNotAllowed(InvalidRequest):
    """The tenant's policy does not allow the recipient's country."""

    type = "/problems/destination-not-allowed"
    title = "Destination not allowed"


class MmsNotAllowed(InvalidRequest):
    """The tenant's policy does not allow MMS."""

    type = "/problems/mms-not-allowed"
    title = "MMS not allowed"


class SenderNotAllowed(InvalidRequest):
    """The tenant's policy does not allow the sender the request names (fromMask)."""

    type = "/problems/sender-not-allowed"
    title = "Sender not allowed"


class NoTenant(GatewayError):
    """A request that reached us without the API key API Gateway should have checked."""

    status = 403
    type = "/problems/no-api-key"
    title = "No API key"


class InvalidToken(GatewayError):
    """A continuation token we did not give (or not for this listing)."""

    status = 400
    type = "/problems/invalid-token"
    title = "The continuation token is not valid"


class MessageNotFound(GatewayError):
    status = 404
    type = "/problems/not-found"
    title = "No such message"


class TemplateNotFound(GatewayError):
    status = 404
    type = "/problems/not-found"
    title = "No such template"


class Conflict(GatewayError):
    """The request cannot be done in the message's present state (or with this idempotency key)."""

    status = 409
    type = "/problems/conflict"
    title = "Conflict"


class SinchRejected(GatewayError):
    """Sinch found the message itself invalid (HTTP 400); it will not be retried."""

    status = 422
    type = "/problems/sinch-rejected"
    title = "Sinch rejected the message"


class SinchForbidden(GatewayError):
    """Sinch refused to send it for this account (HTTP 403); it will not be retried."""

    status = 422
    type = "/problems/sinch-forbidden"
    title = "Sinch refused to send the message"


class SinchMisconfigured(GatewayError):
    """Sinch answered as if our own setup were wrong (401 after a refresh, 404, 405, 415...)."""

    status = 502
    type = "/problems/sinch-misconfigured"
    title = "The gateway's Sinch setup is wrong"


class SinchUnavailable(GatewayError):
    """Sinch could not answer now; asking again later may work."""

    status = 503
    type = "/problems/sinch-unavailable"
    title = "Sinch is unavailable"


class Unauthenticated(GatewayError):
    status = 401
    type = "/problems/unauthenticated"
    title = "Authentication failed"
