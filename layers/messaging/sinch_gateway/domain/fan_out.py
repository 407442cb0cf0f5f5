"""How a batch's recipients go to Sinch: how many in one XMS call, what a call is named at Sinch
(its client_reference), which of the batch's parameters it carries, and which message a report
on one of its recipients is about."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping

from sinch_gateway.domain.batches import (
    DEFAULT_KEY,
    MAX_SINCH_RECIPIENTS,
    SliceRecipient,
    recipient_message_id,
)
from sinch_gateway.domain.content import MessageContent, SmsContent, XmsMediaContent
from sinch_gateway.domain.rate_share import RateShare

# A call's client_reference: "<batch id>/<the index of the slice it came from>/<nonce>". Our
# message ids (a call for one message) are UUIDs, which hold no "/". The nonce makes each call's
# name its own: a call sent again after a lookup found nothing is not confused with the first.
_CALL_REFERENCE = re.compile(r"(?P<batch>[^/]{1,80})/(?P<slice>[0-9]{1,6})/(?P<nonce>[0-9a-f]{8})")
# Of a tenant's patience for its turn in the plan's rate, the part one call may take of the plan:
# a call for k recipients takes k slots at once, so every other tenant's next message waits
# behind it that long. Half the patience leaves them room to go at their turn, not park.
CALL_SHARE_OF_PATIENCE = 0.5


def call_reference(batch_id: str, slice_index: int) -> str:
    """The client_reference of a call for recipients of `batch_id` from its slice `slice_index`:
    a lost answer is looked up by it, and a report on any of its recipients names the batch by it."""
    return f"{batch_id}/{slice_index}/{secrets.token_hex(4)}"


def batch_of_call(reference: str) -> str | None:
    """The batch a call's client_reference names; None for any other reference (a message id)."""
    match = _CALL_REFERENCE.fullmatch(reference)
    return match.group("batch") if match else None


def reported_message_id(reference: str | None, recipient: str | None) -> str | None:
    """The message a delivery report is on: its client_reference for a call for one message (our
    message id); for a call for several recipients of a batch, that recipient's message."""
    if reference is None:
        return None
    batch_id = batch_of_call(reference)
    if batch_id is None:
        return reference
    if not recipient:
        return None  # a report on the whole call: no one message
    # Sinch may write the number without its "+"; our recipients are E.164.
    return recipient_message_id(batch_id, recipient if recipient.startswith("+") else f"+{recipient}")


def recipients_per_call(rate_per_s: float, share: RateShare, patience_s: float) -> int:
    """How many recipients one XMS call may carry: with no shared rate, Sinch's most; else as many
    as the plan sends in CALL_SHARE_OF_PATIENCE of a tenant's patience (so that another tenant's
    message waits no longer than that behind the call), and no more than the tenant's cap sends
    in its patience."""
    if rate_per_s <= 0:
        return MAX_SINCH_RECIPIENTS
    most = rate_per_s * patience_s * CALL_SHARE_OF_PATIENCE
    if share.cap_per_s is not None:
        most = min(most, share.cap_per_s * patience_s)
    return max(1, min(MAX_SINCH_RECIPIENTS, math.floor(most)))


def call_parameters(
    defaults: Mapping[str, str], recipients: Iterable[SliceRecipient]
) -> dict[str, dict[str, str]]:
    """Sinch's `parameters` for a call: each name's value for those of `recipients` that have
    their own, and its default; nothing of recipients the call does not carry."""
    parameters: dict[str, dict[str, str]] = {name: {DEFAULT_KEY: value} for name, value in defaults.items()}
    for recipient in recipients:
        for name, value in recipient.values.items():
            parameters.setdefault(name, {})[recipient.to] = value
    return parameters


def filled_content(content: MessageContent, text: str | None) -> MessageContent:
    """`content` with its text as one recipient gets it."""
    match content:
        case SmsContent():
            return content.model_copy(update={"text": text or ""})
        case XmsMediaContent():
            return content.model_copy(update={"text": text})
        case _:
            return content


def content_text(content: MessageContent) -> str | None:
    """The text Sinch fills in (`${name}`), where the content has one."""
    match content:
        case SmsContent(text=text) | XmsMediaContent(text=text):
            return text
        case _:
            return None
