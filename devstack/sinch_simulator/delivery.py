"""What happens to a batch after the 201: media fetch, Dispatched, a final status, and callbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .callbacks import CallbackSender
from .common import utcnow
from .faults import FINAL_CODES, CallbackEffects, FaultSet
from .media import MediaFetcher
from .mediatypes import XMS_TYPES
from .parts import count_parts
from .store import DISPATCHED, BatchStore, Change
from .validation import BatchRequest

log = logging.getLogger(__name__)


def _final(effects: CallbackEffects, request: BatchRequest) -> tuple[str, int]:
    """The final status and receipt code a batch's recipients end with."""
    if effects.final is None:
        return "Delivered", 0
    if effects.code is not None:
        return effects.final, effects.code
    if effects.final == "Rejected" and request.is_media:
        return "Rejected", 415  # MMS gateway rejection
    return effects.final, FINAL_CODES[effects.final]


class Delivery:
    def __init__(
        self,
        *,
        store: BatchStore,
        scheduler_call_later: Callable[..., None],
        callbacks: CallbackSender,
        faults: FaultSet,
        media: MediaFetcher,
        delay_s: Callable[[], float],
        media_max_bytes: Callable[[], int],
    ) -> None:
        self._store = store
        self._later = scheduler_call_later
        self._callbacks = callbacks
        self._faults = faults
        self._media = media
        self._delay_s = delay_s  # read when used: /_sim/config may change them
        self._media_max_bytes = media_max_bytes

    def schedule(self, batch_id: str, send_at: datetime | None) -> None:
        wait = max(0.0, (send_at - utcnow()).total_seconds()) if send_at else 0.0
        self._later(wait + self._delay_s(), self._dispatch, batch_id)

    def cancel(self, batch_id: str) -> dict[str, Any] | None:
        """DELETE: recipients not yet sent end Cancelled (407); those in flight still finish."""
        batch = self._store.cancel(batch_id)
        request = self._store.request(batch_id)
        if batch is None or request is None:
            return None
        changes = [
            self._store.set_status(batch_id, m, "Cancelled", 407) for m in self._store.queued(batch_id)
        ]
        # Sent from the scheduler: the DELETE answers without waiting for the callback receiver.
        self._later(0, self._send, request, CallbackEffects(), self._reports(request, changes))
        return batch

    def _dispatch(self, batch_id: str) -> None:
        request = self._store.request(batch_id)
        waiting = self._store.queued(batch_id)
        if request is None or not waiting:  # reset, or canceled before it went out
            return
        # A `callbacks` rule is picked per recipient: each recipient is a message of its own, whose
        # reports may be lost (or late, doubled, reordered) while its neighbours' arrive.
        by_effects: dict[CallbackEffects, list[str]] = {}
        for msisdn in waiting:
            effects = CallbackEffects.of(self._faults.pick("callbacks", "xms"))
            by_effects.setdefault(effects, []).append(msisdn)
        if request.media_url is not None:
            fetched = self._media.fetch(
                request.media_url, self._media_max_bytes(), XMS_TYPES, self._faults.pick("media")
            )
            if fetched.problem is not None:
                log.info("batch %s: media refused (%s): recipients fail with 414", batch_id, fetched.detail)
                for effects, msisdns in by_effects.items():
                    failed = [self._store.set_status(batch_id, m, "Failed", 414) for m in msisdns]
                    self._send(request, effects, self._reports(request, failed))
                return
        for effects, msisdns in by_effects.items():
            self._go_out(batch_id, request, msisdns, effects)

    def _go_out(
        self, batch_id: str, request: BatchRequest, msisdns: list[str], effects: CallbackEffects
    ) -> None:
        """Dispatch (or abort) these recipients, who share their callback effects."""
        changes: list[Change | None] = []
        sent: list[str] = []
        for msisdn in msisdns:
            status, code = self._refusal(request, msisdn) or (DISPATCHED, 401)
            change = self._store.set_status(batch_id, msisdn, status, code)
            changes.append(change)
            if change is not None and status == DISPATCHED:
                sent.append(msisdn)
        reports = self._reports(request, changes)
        held: list[dict[str, Any]] = []
        if effects.reorder and sent:
            held = reports  # sent after the final reports, by _finish
        else:
            self._send(request, effects, reports)
        if sent:
            self._later(self._delay_s(), self._finish, batch_id, sent, effects, held)

    def _finish(
        self, batch_id: str, sent: list[str], effects: CallbackEffects, held: list[dict[str, Any]]
    ) -> None:
        request = self._store.request(batch_id)
        if request is None:
            return
        status, code = _final(effects, request)
        changes = [self._store.set_status(batch_id, m, status, code, from_operator=True) for m in sent]
        # With `reorder`, the held Dispatched reports go after the final ones.
        self._send(request, effects, self._reports(request, changes) + held)

    @staticmethod
    def _refusal(request: BatchRequest, msisdn: str) -> tuple[str, int] | None:
        """Sinch aborts a message before sending it when its parameters or parts do not fit."""
        body = request.body_for(msisdn)
        if body is None:
            return "Aborted", 405  # unmatched parameter
        limited = request.max_parts and not request.truncate_concat and not request.is_media
        if limited and count_parts(body).count > (request.max_parts or 0):
            return "Aborted", 411  # exceeded parts limit
        return None

    @staticmethod
    def _reports(request: BatchRequest, changes: list[Change | None]) -> list[dict[str, Any]]:
        """The callbacks these changes call for under the batch's `delivery_report` setting."""
        mode = request.delivery_report
        reports: list[dict[str, Any]] = []
        for change in changes:
            if change is None:
                continue
            if mode == "per_recipient" or (mode == "per_recipient_final" and change.final):
                reports.append(change.report)
            if change.batch_report is not None:
                reports.append(change.batch_report)
        return reports

    def _send(self, request: BatchRequest, effects: CallbackEffects, reports: list[dict[str, Any]]) -> None:
        if effects.drop:
            log.info("%d delivery reports dropped by a fault rule", len(reports))
            return
        if request.callback_url is not None and reports:
            self._callbacks.send(
                request.callback_url, reports, copies=effects.copies, delay_s=effects.delay_s
            )
