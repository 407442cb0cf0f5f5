"""Taking a batch a caller asked for: its content admitted once for every recipient, each
recipient checked on its own (a refused one is listed, the rest still go), the batch recorded, and
its recipients queued in slices for the queue function to fan out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from sinch_gateway.domain.batches import (
    DEFAULT_KEY,
    BatchAccepted,
    BatchRecord,
    BatchRefused,
    BatchResult,
    BatchSlice,
    Refusal,
    RefusalType,
    SliceRecipient,
    fill,
    placeholders,
    slices,
)
from sinch_gateway.domain.commands import BatchCommand
from sinch_gateway.domain.content import Channel, SmsContent, XmsMediaContent
from sinch_gateway.domain.errors import DestinationNotAllowed
from sinch_gateway.domain.phone import InvalidPhoneNumber, mms_unavailable_reason, normalize_e164
from sinch_gateway.domain.segments import count_segments
from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.ports import BatchStore, RetryQueue

# Slices go to SendQueue at once: 10,000 recipients are 10 slices, one round trip's time.
QUEUE_THREADS = 10


class BatchIntake:
    def __init__(self, admission: Admission, batches: BatchStore, queue: RetryQueue) -> None:
        self._admission = admission
        self._batches = batches
        self._queue = queue

    def accept(self, command: BatchCommand, tenant_id: str, webhook_url: str, batch_id: str) -> BatchResult:
        """Raises the InvalidRequest (or Conflict) the whole batch fails on; otherwise each
        recipient is taken or refused, and the taken ones recorded and queued (none: nothing is).

        `batch_id`: the same id for the same request again (its Idempotency-Key) finds the batch
        recorded and queues its slices again, which the fan-out takes once (a recipient's message
        id is derived from the batch and the number)."""
        policy = self._admission.batch_policy(command, tenant_id)
        checked = _Recipients(command, policy)
        opted_out = self._admission.opted_out([r.to for r in checked.taken.values()])
        for position in [p for p, r in checked.taken.items() if r.to in opted_out]:
            recipient = checked.taken.pop(position)
            checked.refuse(
                position,
                RefusalType.OPTED_OUT,
                f"{recipient.to} has opted out (texted STOP to the sender number)",
            )
        refused = tuple(refusal for _, refusal in sorted(checked.refused.items()))
        if not checked.taken:
            return BatchRefused(refused)
        content = self._admission.batch_content(command, tenant_id)
        cut = slices(batch_id, tenant_id, list(checked.taken.values()))
        batch = BatchRecord(
            id=batch_id,
            tenant_id=tenant_id,
            content=content,
            recipients=len(checked.taken),
            refused=len(refused),
            slices=len(cut),
            webhook_url=webhook_url,
            defaults={
                name: values[DEFAULT_KEY]
                for name, values in command.parameters.items()
                if DEFAULT_KEY in values
            },
            client_reference=command.client_reference,
            send_at=command.send_at,
            expire_at=command.expire_at,
            status_callback_url=command.status_callback_url,
        )
        if not self._batches.create(batch):
            batch = self._batches.get(batch_id) or batch  # the same request again
        self._enqueue(cut)
        return BatchAccepted(batch, refused)

    def _enqueue(self, cut: Sequence[BatchSlice]) -> None:
        if len(cut) == 1:
            self._queue.enqueue_slice(cut[0])
            return
        with ThreadPoolExecutor(max_workers=min(len(cut), QUEUE_THREADS)) as pool:
            list(pool.map(self._queue.enqueue_slice, cut))  # list(): raises what a send raised


class _Recipients:
    """A batch's `to`, each checked on its own (all but opt-outs, which are read together after):
    taken ones and refused ones by their position in `to`."""

    def __init__(self, command: BatchCommand, policy: TenantPolicy) -> None:
        self.taken: dict[int, SliceRecipient] = {}
        self.refused: dict[int, Refusal] = {}
        self._command = command
        self._policy = policy
        self._text = _text_of(command)
        self._needed = placeholders(self._text) if self._text else set()
        first: dict[str, str] = {}  # each number taken (or refused on policy), as first written
        for position, written in enumerate(command.to):
            self._check(position, written, first)

    def refuse(self, position: int, kind: RefusalType, detail: str) -> None:
        self.refused[position] = Refusal(self._command.to[position], kind, detail)

    def _check(self, position: int, written: str, first: dict[str, str]) -> None:
        try:
            to = normalize_e164(written)
        except InvalidPhoneNumber as exc:
            self.refuse(position, RefusalType.MALFORMED, f"The number {exc}.")
            return
        if to in first:
            self.refuse(
                position,
                RefusalType.DUPLICATE,
                f"The same number ({to}) as an earlier recipient, written {first[to]!r}.",
            )
            return
        first[to] = written
        if problem := self._not_allowed(to):
            self.refuse(position, RefusalType.NOT_ALLOWED, problem)
            return
        values = {name: v[to] for name, v in self._command.parameters.items() if to in v}
        if unfilled := self._unfilled(to, values):
            self.refuse(position, *unfilled)
            return
        self.taken[position] = SliceRecipient(to, values)

    def _not_allowed(self, to: str) -> str | None:
        try:
            self._policy.check_country(to)
        except DestinationNotAllowed as exc:
            return exc.detail
        if self._command.channel is Channel.MMS and (reason := mms_unavailable_reason(to)):
            return f"{to}: {reason}."
        return None

    def _unfilled(self, to: str, values: Mapping[str, str]) -> tuple[RefusalType, str] | None:
        """Whether the text, filled in for `to`, still has a placeholder or needs too many parts."""
        parameters = self._command.parameters
        missing = sorted(
            n for n in self._needed if n not in values and DEFAULT_KEY not in parameters.get(n, {})
        )
        if missing:
            names = ", ".join(f"${{{n}}}" for n in missing)
            return (
                RefusalType.MISSING_PARAMETER,
                f"The text's {names} has no value for {to} and no default.",
            )
        max_parts = self._command.max_parts
        if max_parts is not None and self._text:
            needed = count_segments(fill(self._text, parameters, to))
            if needed.segments > max_parts:
                return (
                    RefusalType.TOO_MANY_PARTS,
                    f"The text for {to} needs {needed.segments} segments ({needed.encoding} encoding), "
                    f"more than maxParts {max_parts}.",
                )
        return None


def _text_of(command: BatchCommand) -> str | None:
    """The text `${name}` placeholders are filled in (an SMS's, or a one-file MMS's)."""
    content = command.content
    return content.text if isinstance(content, SmsContent | XmsMediaContent) else None
