"""Sinch's MO SMS (`mo_text`) as it arrives on the inbound webhook, read into an InboundMessage."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sinch_gateway.domain.inbound import InboundMessage, action_of
from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.reports import MalformedReport
from sinch_gateway.sinch.xms_reports import SinchTime

# Sinch's MO ids are ULIDs; printable ASCII within a bound keeps one a valid DynamoDB key.
SinchId = Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,100}$")]
# A handset's number (Sinch writes it with or without its +) or our own number or short code.
Msisdn = Annotated[str, Field(pattern=r"^\+?[0-9]{3,15}$")]
# Sinch's limit is 2000 characters; the margin keeps a longer one from being dropped (a 4xx is
# never retried) while an item stays far under DynamoDB's 400 KB.
MAX_BODY_CHARS = 10_000


class MoText(BaseModel):
    # Sinch adds fields over time; a webhook that refused them would drop messages.
    model_config = ConfigDict(extra="ignore")

    type: Literal["mo_text"]
    id: SinchId
    from_: Msisdn = Field(alias="from")
    to: Msisdn
    body: str = Field(max_length=MAX_BODY_CHARS)
    received_at: SinchTime
    client_reference: str | None = None


def parse_mo_text(raw: str) -> InboundMessage:
    """One MO SMS; MalformedReport when the body is not one."""
    try:
        mo = MoText.model_validate_json(raw)
    except ValidationError as exc:
        raise MalformedReport(
            [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        ) from None
    return InboundMessage(
        id=mo.id,
        from_="+" + mo.from_.removeprefix("+"),
        to=mo.to,
        body=mo.body,
        action=action_of(mo.body),
        # Sinch's client reference on an MO is that of the message it answers: our message id.
        message_id=mo.client_reference or None,
        received_at=mo.received_at,
        created_at=utcnow(),
    )
