"""POST /v1/messages as HTTP: the whole answer (202 with Location, or a problem), given once per
Idempotency-Key, after which the first answer is replayed byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway.api.models import DryRunResult, SendMessageRequest, accepted_view
from sinch_gateway.api.problems import HttpAnswer, error_answer
from sinch_gateway.data import aws
from sinch_gateway.domain.answers import refusal_problem
from sinch_gateway.domain.errors import (
    Conflict,
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

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

IDEMPOTENCY_WINDOW_S = 24 * 60 * 60


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
        # Imported here: Powertools Idempotency imports boto3 (and s3transfer), which a request
        # without a key never needs.
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        config, send_once = self._idempotent
        config.register_lambda_context(context)
        request = {"apiKeyId": tenant_id, "key": key, "body": message.model_dump(mode="json")}
        try:
            return HttpAnswer.from_dict(send_once(request=request, message=message, webhook_url=webhook_url))
        except IdempotencyValidationError:
            raise Conflict(
                "This Idempotency-Key was used with another body in the last 24 hours; use a new key.",
                errors=[("Idempotency-Key", "was used with another body")],
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed.", retry_after_s=1
            ) from None

    @cached_property
    def _idempotent(self) -> tuple[IdempotencyConfig, Callable[..., dict[str, Any]]]:
        # Built on first use, not at import: see answer_once.
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        config = IdempotencyConfig(
            # Keys are per API key: two clients choosing the same key do not collide.
            event_key_jmespath="[apiKeyId, key]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_WINDOW_S,
        )
        store = DynamoDBPersistenceLayer(table_name=self._idempotency_table, boto3_client=aws.dynamodb())

        @idempotent_function(data_keyword_argument="request", persistence_store=store, config=config)
        def send_once(
            request: dict[str, Any], message: SendMessageRequest, webhook_url: str
        ) -> dict[str, Any]:
            return self.answer(message, webhook_url, request["apiKeyId"]).as_dict()

        return config, send_once


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
