"""Sending one message a caller asked for: admitted (policy, opt-out, media, template), recorded and
handed to Sinch; or, as a dry run, checked the same way and shown as Sinch would send it."""

from __future__ import annotations

from sinch_gateway.domain.commands import SendCommand
from sinch_gateway.domain.results import Preview, SendResult
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.sending import MessageSender


class SendMessage:
    def __init__(self, sender: MessageSender, admission: Admission) -> None:
        self._sender = sender
        self._admission = admission

    def send(self, command: SendCommand, webhook_url: str, tenant_id: str) -> SendResult:
        """Raises the InvalidRequest (MediaUnavailable when a later try may pass) or Conflict that
        admission found; otherwise the message is recorded, and its first attempt made."""
        draft = self._admission.admit(command, tenant_id)
        return self._sender.submit(draft, webhook_url, tenant_id)

    def dry_run(self, command: SendCommand, tenant_id: str) -> Preview:
        """What would be sent, checked as a send is; nothing is written anywhere (not even the media)."""
        return self._sender.dry_run(self._admission.check(command, tenant_id))
