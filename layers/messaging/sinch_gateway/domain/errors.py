"""Domain errors: what went wrong, in the domain's words. What a caller hears of each (an RFC 9457
problem with its HTTP status) is the API's business (api.problems)."""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
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
        self.errors = errors or []  # (field, what is wrong with it)
        self.extra = extra or {}  # what else the caller is told (messageId, Sinch's code...)
        self.retry_after_s = retry_after_s  # when asking again may work


class InvalidRequest(GatewayError):
    """The request cannot be sent as it is. `code`: which refusal, as a rejected record says."""

    code: ClassVar[str] = "invalid_request"


class MediaUnavailable(InvalidRequest):
    """Media that could not be fetched now (its host unreachable, too slow, or answering 5xx) and
    may pass on a later try: never an answer to keep under an Idempotency-Key."""

    code = "media_unavailable"


class DestinationNotAllowed(InvalidRequest):
    """The tenant's policy does not allow the recipient's country."""

    code = "destination_not_allowed"


class MmsNotAllowed(InvalidRequest):
    """The tenant's policy does not allow MMS."""

    code = "mms_not_allowed"


class SenderNotAllowed(InvalidRequest):
    """The tenant's policy does not allow the sender the request names (fromMask)."""

    code = "sender_not_allowed"


class NoTenant(GatewayError):
    """A request that reached us without the API key API Gateway should have checked."""


class InvalidToken(GatewayError):
    """A continuation token we did not give (or not for this listing)."""


class MessageNotFound(GatewayError):
    pass


class TemplateNotFound(GatewayError):
    pass


class BatchNotFound(GatewayError):
    pass


class AllRecipientsRefused(InvalidRequest):
    """Every recipient of a batch was refused (extra["refused"] says why each): nothing recorded."""

    code = "all_recipients_refused"


class Conflict(GatewayError):
    """The request cannot be done in the message's present state (or with this idempotency key)."""


class SinchRejected(GatewayError):
    """Sinch found the message itself invalid (HTTP 400); it will not be retried."""


class SinchForbidden(GatewayError):
    """Sinch refused to send it for this account (HTTP 403); it will not be retried."""


class SinchMisconfigured(GatewayError):
    """Sinch answered as if our own setup were wrong (401 after a refresh, 404, 405, 415...)."""


class SinchUnavailable(GatewayError):
    """Sinch could not answer now; asking again later may work."""


class Unauthenticated(GatewayError):
    """A webhook call whose signature or credentials did not verify (or a replayed one)."""


class InvalidReport(GatewayError):
    """A webhook body that is not a report this endpoint takes."""


class InvalidInbound(GatewayError):
    """A webhook body that is not an inbound message this endpoint takes."""
