"""The MMS JSON API's postbacks, read into what the report intake applies: a StatusReport for a
message, a TemplateReport for a saved template. Codes:
https://developers.sinch.com/docs/mms/api-reference/postback-notification-codes/"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sinch_gateway.domain.content import Channel
from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.reports import MalformedReport, StatusReport
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.templates import TemplateReport
from sinch_gateway.sinch.xms import MAX_ERROR_TEXT_CHARS
from sinch_gateway.sinch.xms_reports import SinchTime

# What each postback code means for a message (N101 sent, N102 delivered...).
MESSAGE_CODES: dict[str, Status] = {
    "N101": Status.DISPATCHED,  # Sinch started sending it
    "N013": Status.DISPATCHED,  # transcoded, and sending started
    "N102": Status.DELIVERED,
    "N202": Status.DELIVERED,  # as the fallback SMS
    "N103": Status.EXPIRED,
    "E101": Status.FAILED,  # impossible to send
    "E102": Status.REJECTED,  # rejected or not recognised by the handset's network
    "E202": Status.FAILED,  # the fallback SMS failed too
    "E011": Status.FAILED,  # content validation failed
    "E012": Status.FAILED,  # audio encoding failed
    "E013": Status.FAILED,  # video encoding failed
    "E999": Status.FAILED,  # Sinch's queue could not process it
}
TEMPLATE_CODES = {"N003": True, "E002": False, "E003": False, "E004": False}  # ready, or encoding failed
_FALLBACK_CODES = {"N202"}


class Postback(BaseModel):
    # Sinch adds fields over time; refusing them would drop postbacks.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    origin: str | None = None
    code: str = Field(min_length=1, max_length=16)
    status: str | None = None
    status_details: str | None = Field(default=None, alias="status-details")
    sent_as: str | None = Field(default=None, alias="sent-as")
    tracking_id: str | None = Field(default=None, alias="tracking-id", max_length=128)
    client_reference: str | None = Field(default=None, alias="client-reference", max_length=128)
    mms_id: str | None = Field(default=None, alias="mms-id", max_length=128)
    timestamp: SinchTime | None = None


def parse_postback(raw: str) -> StatusReport | TemplateReport:
    """One postback; MalformedReport when it is not one."""
    try:
        postback = Postback.model_validate_json(raw)
    except ValidationError as exc:
        raise MalformedReport(
            [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        ) from None
    code = postback.code.upper()
    if code in TEMPLATE_CODES:
        return TemplateReport(
            template_id=postback.client_reference,
            tracking_id=postback.tracking_id,
            code=code,
            ready=TEMPLATE_CODES[code],
            mms_id=postback.mms_id,
            # Kept as the template's error text: as long as Sinch's error texts are kept (a postback
            # of any length is taken; one past DynamoDB's 400 KB was a 500, retried for ever).
            detail=(postback.status_details or postback.status or "")[:MAX_ERROR_TEXT_CHARS] or None,
        )
    at = postback.timestamp or utcnow()
    delivered_as = None
    if code in _FALLBACK_CODES or (code == "N102" and (postback.sent_as or "").upper() == "SMS"):
        delivered_as = Channel.SMS
    return StatusReport(
        kind=code,
        sinch_id=postback.tracking_id or "no-tracking-id",
        reference=postback.client_reference,
        status=MESSAGE_CODES.get(code),
        code=code,
        at=at,
        delivered_as=delivered_as,
    )
