"""How far a batch got (its recipients counted per status, from their messages), and its cancel.
Another tenant's batch is as absent as an unknown id."""

from __future__ import annotations

from dataclasses import dataclass

from sinch_gateway.domain.batches import BatchRecord, BatchStatus, progress, recipient_counts
from sinch_gateway.domain.errors import BatchNotFound
from sinch_gateway.domain.status import Status
from sinch_gateway.usecases.ports import BatchMessages, BatchStore


@dataclass(frozen=True)
class BatchProgress:
    batch: BatchRecord
    status: BatchStatus  # as its recipients' messages say (the recorded one, when cancelled)
    counts: dict[Status, int]  # recipients per status


class BatchProgressReader:
    def __init__(self, batches: BatchStore, messages: BatchMessages) -> None:
        self._batches = batches
        self._messages = messages

    def batch(self, tenant_id: str, batch_id: str) -> BatchRecord:
        """The tenant's batch, or BatchNotFound (for another tenant's too)."""
        batch = self._batches.get_for_tenant(tenant_id, batch_id)
        if batch is None:
            raise BatchNotFound(f"No batch with id {batch_id[:64]}.")
        return batch

    def progress(self, tenant_id: str, batch_id: str) -> BatchProgress:
        return self._progress(self.batch(tenant_id, batch_id))

    def cancel(self, tenant_id: str, batch_id: str) -> BatchProgress:
        """The batch cancelled (final: the fan-out ends every recipient not yet handed to Sinch
        cancelled); cancelling it again changes nothing."""
        self.batch(tenant_id, batch_id)
        cancelled = self._batches.set_status(batch_id, BatchStatus.CANCELLED)
        if cancelled is None:  # expired between the two reads
            raise BatchNotFound(f"No batch with id {batch_id[:64]}.")
        return self._progress(cancelled)

    def _progress(self, batch: BatchRecord) -> BatchProgress:
        counts = recipient_counts(batch.recipients, self._messages.count_by_status(batch.id))
        return BatchProgress(batch, progress(batch.status, counts), counts)
