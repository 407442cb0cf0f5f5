"""Answers given once per Idempotency-Key (Powertools Idempotency on IdempotencyTable): the same key
and body within 24 hours get the first answer again byte for byte, and nothing is done twice."""

from __future__ import annotations

import base64
import gzip
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
# A kept answer is a DynamoDB item of at most 400 KB, with the request's hash beside it. A larger
# body (a batch's refusals: thousands of them) is kept gzipped; one still too large is answered
# and not kept, and the same request again is answered anew (a batch's id is derived from its
# key and body, so that finds the batch recorded: nothing is sent twice).
COMPRESS_FROM_BYTES = 32 * 1024
MAX_KEPT_BYTES = 300 * 1024


class _NotKept(Exception):
    def __init__(self, answer: HttpAnswer) -> None:
        super().__init__("the answer is too large to keep")
        self.answer = answer


def kept(answer: HttpAnswer) -> dict[str, Any]:
    """The answer as the idempotency record keeps it; _NotKept when it cannot."""
    data = answer.as_dict()
    if len(answer.body) >= COMPRESS_FROM_BYTES:
        data["body"] = base64.b64encode(gzip.compress(answer.body.encode(), mtime=0)).decode()
        data["encoding"] = "gzip"
    if len(data["body"]) > MAX_KEPT_BYTES:
        raise _NotKept(answer)
    return data


def unkept(data: dict[str, Any]) -> HttpAnswer:
    if data.get("encoding") == "gzip":
        data = {**data, "body": gzip.decompress(base64.b64decode(data["body"])).decode()}
    return HttpAnswer.from_dict(data)


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
            return unkept(once(request=request, payload=payload))
        except _NotKept as exc:
            return exc.answer
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
            return kept(self._answer(request["apiKeyId"], payload))

        return config, once
