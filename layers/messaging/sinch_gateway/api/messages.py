"""POST /v1/messages as HTTP: the whole answer (202 with Location, or a problem), given once per
Idempotency-Key, after which the first answer is replayed byte for byte."""

from __future__ import annotations

from dataclasses import asdict
from functools import cached_property

from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway.api.idempotency import AnsweredOnce
from sinch_gateway.api.models import DryRunResult, SendMessageRequest, accepted_view
from sinch_gateway.api.problems import HttpAnswer, error_answer
from sinch_gateway.domain.answers import refusal_problem
from sinch_gateway.domain.errors import (
    GatewayError,
    InvalidRequest,
    MediaUnavailable,
    SinchMisconfigured,
    SinchUnavailable,
)
from sinch_gateway.domain.outcomes import AuthFailed
from sinch_gateway.domain.results import Ended
from sinch_gateway.usecases.send_message import SendMessage
from sinch_gateway.usecases.sending import UNAUTHORIZED


class MessagesEndpoint:
    def __init__(self, send_message: SendMessage, idempotency_table: str) -> None:
        self._send_message = send_message
        self._idempotency_table = idempotency_table

    def answer(self, message: SendMessageRequest, webhook_url: str, tenant_id: str) -> HttpAnswer:
        """The whole answer, so that a replay is the same answer."""
        try:
            result = self._send_message.send(message.command(), webhook_url, tenant_id)
        except MediaUnavailable:
            # Raised, not answered: under an Idempotency-Key, Powertools keeps only what the
            # function returns (it drops its record when the function raises), and media that may
            # pass later must not be refused for 24 hours. The API's handler answers it all the same.
            raise
        except InvalidRequest as exc:
            return error_answer(exc)
        if isinstance(result, Ended):
            return error_answer(refusal_error(result))
        record = result.message
        return HttpAnswer(
            202,
            accepted_view(record).model_dump_json(),
            {"Content-Type": "application/json", "Location": f"/v1/messages/{record.id}"},
        )

    def dry_run(self, message: SendMessageRequest, tenant_id: str) -> DryRunResult:
        """What would be sent; nothing is written anywhere (not even the media)."""
        preview = self._send_message.dry_run(message.command(), tenant_id)
        return DryRunResult.model_validate(asdict(preview))

    def answer_once(
        self, key: str, tenant_id: str, message: SendMessageRequest, webhook_url: str, context: LambdaContext
    ) -> HttpAnswer:
        """The first answer for this key and body; a different body or a request in flight is a 409."""
        return self._once(key, tenant_id, message.model_dump(mode="json"), (message, webhook_url), context)

    @cached_property
    def _once(self) -> AnsweredOnce:
        def send(tenant_id: str, payload: tuple[SendMessageRequest, str]) -> HttpAnswer:
            message, webhook_url = payload
            return self.answer(message, webhook_url, tenant_id)

        # The name its records were first kept under, so that a key used before still finds them.
        return AnsweredOnce(self._idempotency_table, _FIRST_NAME, send)


_FIRST_NAME = "sinch_gateway.api.messages.MessagesEndpoint._idempotent.<locals>.send_once"


def refusal_error(ended: Ended) -> GatewayError:
    """Why a message ended at its first attempt, as the client should hear it."""
    record = ended.message
    match ended.by:
        case None:
            return SinchUnavailable(
                record.error_text or "Sinch could not be reached.", extra={"messageId": record.id}
            )
        case AuthFailed(_, http_status):
            return SinchMisconfigured(
                "Sinch refused the gateway's credentials; the message was recorded as failed.",
                extra={"sinchStatus": http_status, "sinchCode": UNAUTHORIZED, "messageId": record.id},
            )
        case refused:
            return refusal_problem(refused, messageId=record.id)
