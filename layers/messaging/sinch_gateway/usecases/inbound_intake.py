"""Messages from handsets (Sinch's MO SMS and MMS): authenticate as a delivery report is, read, refuse a
replay, then keep the message for the tenant whose message it answers, with its opt-out or opt-in.

Which tenant: Sinch puts the client reference of the message an MO answers on the MO (our
message id), so the tenant is that message's. Every tenant sends from the one number in the Sinch
secret, so the number alone cannot tell. An MO that names no message of ours is kept for no tenant
(no tenant can list it); its STOP still holds, since an opt-out is per sender number.
"""

from __future__ import annotations

from typing import Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sinch_gateway.domain.errors import InvalidInbound, Unauthenticated
from sinch_gateway.domain.inbound import Action, InboundMessage
from sinch_gateway.domain.phone import mask
from sinch_gateway.domain.reports import MalformedReport
from sinch_gateway.domain.webhook_auth import WebhookProof
from sinch_gateway.sinch.xms_inbound import parse_mo
from sinch_gateway.usecases.ports import MessageStore
from sinch_gateway.usecases.webhook_authenticator import WebhookAuthenticator

logger = Logger(child=True)
metrics = Metrics()


class InboundStore(Protocol):
    def record(self, message: InboundMessage, *, once: str | None = None) -> str:
        """ "new", "duplicate" (Sinch's id kept already) or "replayed" (kept under this nonce)."""
        ...


class InboundIntake:
    def __init__(
        self,
        messages: MessageStore,
        inbound: InboundStore,
        authenticator: WebhookAuthenticator,
    ) -> None:
        self._messages = messages
        self._inbound = inbound
        self._authenticator = authenticator

    def receive(self, raw: str, proof: WebhookProof) -> str:
        """One MO SMS or MMS. Raises Unauthenticated (401, nothing written; a replay too) or
        InvalidInbound (400); anything else raised is a 5xx, which Sinch retries."""
        verified = self._authenticator.signed_call(raw, proof)
        try:
            message = parse_mo(raw)
        except MalformedReport as exc:
            raise InvalidInbound(
                "The body is not an inbound SMS or MMS (mo_text or mo_media).", errors=exc.errors
            ) from None
        answered = self._messages.get(message.message_id) if message.message_id else None
        message = message.model_copy(
            update={"tenant_id": answered.tenant_id, "message_id": answered.id}
            if answered is not None
            else {"message_id": None}  # a reference that is no message of ours means nothing here
        )
        result = self._inbound.record(message, once=verified.nonce.value if verified.nonce else None)
        if result == "replayed":
            metrics.add_metric(name="InboundReplayed", unit=MetricUnit.Count, value=1)
            raise Unauthenticated("This signed callback has been received before.")
        log = {
            "inbound_id": message.id,
            "from": mask(message.from_),
            "tenant_id": message.tenant_id,
            "action": message.action,
            "result": result,
        }
        logger.info("inbound message received", extra=log)
        if result == "new":
            metrics.add_metric(name="InboundMessages", unit=MetricUnit.Count, value=1)
            if message.action is Action.OPTED_OUT:
                metrics.add_metric(name="OptOuts", unit=MetricUnit.Count, value=1)
            elif message.action is Action.OPTED_IN:
                metrics.add_metric(name="OptIns", unit=MetricUnit.Count, value=1)
        return result
