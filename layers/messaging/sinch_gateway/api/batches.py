"""/v1/batches as HTTP: POST's whole answer (202 with Location, or a problem), given once per
Idempotency-Key; a batch's view (GET, DELETE) and its messages, a page at a time."""

from __future__ import annotations

import json
import uuid
from functools import cached_property

from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway.api import listing
from sinch_gateway.api.idempotency import AnsweredOnce
from sinch_gateway.api.models import (
    BatchAcceptedView,
    BatchRequest,
    BatchView,
    MessagePage,
    batch_view,
    refusal_view,
)
from sinch_gateway.api.problems import HttpAnswer, error_answer
from sinch_gateway.data.messages import MessageRepository
from sinch_gateway.domain.batches import BatchAccepted, BatchRefused
from sinch_gateway.domain.errors import AllRecipientsRefused, BatchNotFound, InvalidRequest, MediaUnavailable
from sinch_gateway.domain.listing import MessageFilter
from sinch_gateway.usecases.batch_intake import BatchIntake
from sinch_gateway.usecases.batch_progress import BatchProgress, BatchProgressReader

# A batch sent with an Idempotency-Key has an id derived from the tenant, the key and the body:
# the same request again after a failure finds the batch it recorded (and queues its slices again,
# which the fan-out takes once), where a new id would send every recipient twice.
_BATCH_NAMESPACE = uuid.UUID("3c9e7d2a-5b41-4f0e-8d6a-1e2f7a9b4c53")


class BatchesEndpoint:
    def __init__(
        self,
        intake: BatchIntake,
        progress: BatchProgressReader,
        repository: MessageRepository,
        idempotency_table: str,
    ) -> None:
        self._intake = intake
        self._progress = progress
        self._repository = repository
        self._idempotency_table = idempotency_table

    def answer(
        self, request: BatchRequest, webhook_url: str, tenant_id: str, batch_id: str | None = None
    ) -> HttpAnswer:
        """The whole answer, so that a replay is the same answer."""
        try:
            result = self._intake.accept(
                request.command(), tenant_id, webhook_url, batch_id or str(uuid.uuid4())
            )
        except MediaUnavailable:
            raise  # never kept under an Idempotency-Key (see MessagesEndpoint.answer)
        except InvalidRequest as exc:
            return error_answer(exc)
        match result:
            case BatchRefused(refused):
                return error_answer(
                    AllRecipientsRefused(
                        "Every recipient was refused (see refused); nothing was recorded or sent.",
                        extra={"refused": [refusal_view(r).model_dump(mode="json") for r in refused]},
                    )
                )
            case BatchAccepted(batch, refused):
                accepted = BatchAcceptedView(
                    id=batch.id,
                    status=batch.status,
                    recipients=batch.recipients,
                    refused=[refusal_view(r) for r in refused],
                )
                return HttpAnswer(
                    202,
                    accepted.model_dump_json(),
                    {"Content-Type": "application/json", "Location": f"/v1/batches/{batch.id}"},
                )

    def answer_once(
        self, key: str, tenant_id: str, request: BatchRequest, webhook_url: str, context: LambdaContext
    ) -> HttpAnswer:
        """The first answer for this key and body; a different body or a request in flight is a 409."""
        body = request.model_dump(mode="json")
        named = json.dumps([tenant_id, key, body], sort_keys=True, separators=(",", ":"))
        batch_id = str(uuid.uuid5(_BATCH_NAMESPACE, named))
        return self._once(key, tenant_id, body, (request, webhook_url, batch_id), context)

    @cached_property
    def _once(self) -> AnsweredOnce:
        def accept(tenant_id: str, payload: tuple[BatchRequest, str, str]) -> HttpAnswer:
            request, webhook_url, batch_id = payload
            return self.answer(request, webhook_url, tenant_id, batch_id)

        return AnsweredOnce(self._idempotency_table, "sinch_gateway.api.batches.accept", accept)

    def view(self, tenant_id: str, batch_id: str) -> BatchView:
        return _view(self._progress.progress(tenant_id, batch_id))

    def cancel(self, tenant_id: str, batch_id: str) -> BatchView:
        return _view(self._progress.cancel(tenant_id, batch_id))

    def page_messages(
        self,
        tenant_id: str,
        which: MessageFilter,
        limit: int,
        next_token: str | None,
        *,
        unknown_is_empty: bool,
    ) -> MessagePage:
        """A page of the batch `which` names (the tenant's; another's is a 404, or with
        `unknown_is_empty` an empty page, as a filter that matches nothing)."""
        assert which.batch_id is not None
        try:
            self._progress.batch(tenant_id, which.batch_id)
        except BatchNotFound:
            if unknown_is_empty:
                return MessagePage(items=[])
            raise
        return listing.page_messages(self._repository, tenant_id, which, limit, next_token)


def _view(progress: BatchProgress) -> BatchView:
    return batch_view(progress.batch, progress.status, progress.counts)
