"""Answers given once per Idempotency-Key (Powertools Idempotency on IdempotencyTable): the same key
and body within 24 hours get the first answer again byte for byte, and nothing is done twice."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway.api.problems import HttpAnswer
from sinch_gateway.data import aws
from sinch_gateway.domain.errors import Conflict

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

IDEMPOTENCY_WINDOW_S = 24 * 60 * 60
# The answer to give once: (the caller's tenant, what the route passes on) -> the whole answer.
Answer = Callable[[str, Any], HttpAnswer]


class AnsweredOnce:
    """`answer` given once per tenant, key and body. `name` tells one route's keys from another's
    (a tenant may use the same key on two routes)."""

    def __init__(self, table: str, name: str, answer: Answer) -> None:
        self._table = table
        self._name = name
        self._answer = answer

    def __call__(
        self, key: str, tenant_id: str, body: Any, payload: Any, context: LambdaContext
    ) -> HttpAnswer:
        """The first answer for this key and `body` (JSON data); a different body or a request in
        flight is a 409."""
        # Imported here: Powertools Idempotency imports boto3 (and s3transfer), which a request
        # without a key never needs.
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        config, once = self._idempotent
        config.register_lambda_context(context)
        request = {"apiKeyId": tenant_id, "key": key, "body": body}
        try:
            return HttpAnswer.from_dict(once(request=request, payload=payload))
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
        # Built on first use, not at import: see __call__.
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
        store = DynamoDBPersistenceLayer(table_name=self._table, boto3_client=aws.dynamodb())
        # Powertools' own prefix: the function's name, then the decorated function's.
        prefix = f"{os.getenv('AWS_LAMBDA_FUNCTION_NAME', 'test-func')}.{self._name}"

        @idempotent_function(
            data_keyword_argument="request", persistence_store=store, config=config, key_prefix=prefix
        )
        def once(request: dict[str, Any], payload: Any) -> dict[str, Any]:
            return self._answer(request["apiKeyId"], payload).as_dict()

        return config, once
