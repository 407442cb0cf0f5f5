"""The batches Sinch holds and each recipient's delivery state; builds batch and DR objects."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .common import iso, new_ulid, utcnow
from .validation import BatchRequest, msisdn_key

QUEUED, DISPATCHED = "Queued", "Dispatched"
INTERMEDIATE = frozenset({QUEUED, DISPATCHED})


@dataclass
class _Recipient:
    msisdn: str
    status: str
    code: int
    at: datetime
    operator_status_at: datetime | None = None


@dataclass
class _Batch:
    id: str
    request: BatchRequest
    created_at: datetime
    modified_at: datetime
    canceled: bool = False
    batch_reported: bool = False
    recipients: dict[str, _Recipient] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        echo = self.request.echo
        return {
            "id": self.id,
            **{k: echo[k] for k in ("to", "from") if k in echo},
            "canceled": self.canceled,
            **{k: v for k, v in echo.items() if k not in ("to", "from")},
            "created_at": iso(self.created_at),
            "modified_at": iso(self.modified_at),
        }

    def recipient_report(self, r: _Recipient) -> dict[str, Any]:
        report: dict[str, Any] = {
            "type": "recipient_delivery_report_" + ("mms" if self.request.is_media else "sms"),
            "batch_id": self.id,
            "recipient": r.msisdn,
            "code": r.code,
            "status": r.status,
            "at": iso(r.at),
        }
        if r.operator_status_at is not None:
            report["operator_status_at"] = iso(r.operator_status_at)
        if self.request.client_reference is not None:
            report["client_reference"] = self.request.client_reference
        return report

    def batch_report(
        self, full: bool, statuses: set[str] | None = None, codes: set[int] | None = None
    ) -> dict[str, Any]:
        groups: dict[tuple[int, str], list[str]] = {}
        for r in self.recipients.values():
            if (statuses is None or r.status in statuses) and (codes is None or r.code in codes):
                groups.setdefault((r.code, r.status), []).append(r.msisdn)
        entries = []
        for (code, status), msisdns in groups.items():
            entry: dict[str, Any] = {"code": code, "status": status, "count": len(msisdns)}
            if full:
                entry["recipients"] = msisdns
            entries.append(entry)
        report: dict[str, Any] = {
            "type": "delivery_report_" + ("mms" if self.request.is_media else "sms"),
            "batch_id": self.id,
            "total_message_count": len(self.recipients),
            "statuses": entries,
        }
        if self.request.client_reference is not None:
            report["client_reference"] = self.request.client_reference
        return report

    @property
    def finished(self) -> bool:
        return all(r.status not in INTERMEDIATE for r in self.recipients.values())


@dataclass(frozen=True)
class Change:
    """One recipient's status change, with what a callback would carry for it."""

    report: dict[str, Any]
    final: bool
    # Set on the change that finished the batch, for `summary`/`full` callbacks (sent once).
    batch_report: dict[str, Any] | None = None


class BatchStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()

    def create(self, request: BatchRequest, now: datetime) -> dict[str, Any]:
        batch = _Batch(new_ulid(), request, now, now)
        for msisdn in request.to:
            batch.recipients[msisdn_key(msisdn)] = _Recipient(msisdn, QUEUED, 400, now)
        with self._lock:
            self._batches[batch.id] = batch
            return batch.as_json()

    def request(self, batch_id: str) -> BatchRequest | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            return batch.request if batch else None

    def get(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            return batch.as_json() if batch else None

    def search(
        self,
        page: int,
        page_size: int,
        *,
        client_reference: str | None = None,
        senders: set[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Newest first; returns (total matching, the page)."""
        with self._lock:
            found = [
                b
                for b in self._batches.values()
                if (client_reference is None or b.request.client_reference == client_reference)
                and (senders is None or b.request.echo["from"] in senders)
                and (start is None or b.created_at >= start)
                and (end is None or b.created_at < end)
            ]
            found.sort(key=lambda b: (b.created_at, b.id), reverse=True)
            chosen = found[page * page_size : (page + 1) * page_size]
            return len(found), [b.as_json() for b in chosen]

    def latest_reference(self, sender: str, recipient: str) -> str | None:
        """The client reference of the newest batch from `sender` to `recipient`: what Sinch puts
        on an MO that answers it (where the account has that feature)."""
        with self._lock:
            found = [
                b
                for b in self._batches.values()
                if msisdn_key(str(b.request.echo.get("from", ""))) == msisdn_key(sender)
                and msisdn_key(recipient) in b.recipients
            ]
        newest = max(found, key=lambda b: (b.created_at, b.id), default=None)
        return newest.request.client_reference if newest else None

    def queued(self, batch_id: str) -> list[str]:
        """Recipients still waiting to be sent."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return []
            return [r.msisdn for r in batch.recipients.values() if r.status == QUEUED]

    def set_status(
        self, batch_id: str, msisdn: str, status: str, code: int, *, from_operator: bool = False
    ) -> Change | None:
        """Move a recipient forward; None when he is gone or already further (never moves back)."""
        with self._lock:
            batch = self._batches.get(batch_id)
            r = batch.recipients.get(msisdn_key(msisdn)) if batch else None
            if batch is None or r is None or r.status not in INTERMEDIATE:
                return None
            if status == DISPATCHED and r.status != QUEUED:
                return None
            r.status, r.code, r.at = status, code, utcnow()
            if from_operator:
                r.operator_status_at = r.at
            final = status not in INTERMEDIATE
            batch_report = None
            if (
                final
                and batch.request.delivery_report in ("summary", "full")
                and not batch.batch_reported
                and batch.finished
            ):
                batch.batch_reported = True
                batch_report = batch.batch_report(full=batch.request.delivery_report == "full")
            return Change(batch.recipient_report(r), final, batch_report)

    def cancel(self, batch_id: str) -> dict[str, Any] | None:
        """Mark it canceled (the caller cancels the recipients not yet sent)."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return None
            if not batch.canceled:
                batch.canceled, batch.modified_at = True, utcnow()
            return batch.as_json()

    def batch_report(
        self, batch_id: str, full: bool, statuses: set[str] | None, codes: set[int] | None
    ) -> dict[str, Any] | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            return batch.batch_report(full, statuses, codes) if batch else None

    def recipient_report(self, batch_id: str, msisdn: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self._batches.get(batch_id)
            r = batch.recipients.get(msisdn_key(msisdn)) if batch else None
            return batch.recipient_report(r) if batch and r else None
