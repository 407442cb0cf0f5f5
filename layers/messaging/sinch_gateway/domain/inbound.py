"""Messages from handsets to our sender numbers (Sinch's MO SMS and MMS), and the opt-outs they carry.

An opt-out belongs to the pair (sender number, recipient), across tenants: the handset user texted
STOP to a number, not to a tenant, and carriers hold whoever sends from that number to it. Every
tenant sends from the number in the Sinch secret, so a STOP to it stops them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sinch_gateway.domain.errors import InvalidRequest

# Sinch's usual opt-out and opt-in keywords. YES is left out on purpose: it is the everyday answer
# to "reply YES to confirm", and reading it as an opt-in would undo a STOP the user meant.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
# Sinch's MO ids are ULIDs; printable ASCII within a bound keeps one a valid DynamoDB key.
SINCH_ID_PATTERN = r"[\x21-\x7e]{1,100}"

# What is stored of an inbound message, which one DynamoDB item (at most 400 KB) holds:
# - its text and its subject whole: Sinch's limit is 2,000 characters; the webhook takes up to
#   MAX_TEXT_CHARS each (a 4xx is never retried, so a longer one would be lost), 40,000 bytes each
#   in UTF-8 at the most;
# - its files' details (URL, type, status), in Sinch's order, while they take MAX_MEDIA_BYTES in
#   all; the files past that are counted (media_omitted), not kept.
# With its numbers, ids and times, an inbound message is stored in at most MAX_STORED_BYTES.
MAX_TEXT_CHARS = 10_000
MAX_MEDIA_BYTES = 32 * 1024
MAX_STORED_BYTES = 128 * 1024


class Action(StrEnum):
    OPTED_OUT = "opted-out"
    OPTED_IN = "opted-in"


def action_of(body: str) -> Action | None:
    """The opt-out or opt-in a message's text asks for: the keyword alone, in any case, with
    surrounding spaces ("Stop " yes, "stop it" no: a sentence is a reply, not a keyword)."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return Action.OPTED_OUT
    if word in OPT_IN_WORDS:
        return Action.OPTED_IN
    return None


def sender_key(number: str) -> str:
    """One spelling of a sender number: Sinch writes ours without its + in an MO's `to`, and the
    secret may hold it either way."""
    return number.strip().removeprefix("+")


class InboundMedia(BaseModel):
    """A file of an inbound MMS, as Sinch keeps it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    url: str | None = Field(default=None, description="Sinch's link to the file (none when it failed)")
    content_type: str
    status: str = Field(description="Sinch's upload status: Uploaded or Failed")


class InboundMessage(BaseModel):
    """One MO SMS or MMS as stored: `tenant_id` is the tenant whose message it answers, if known."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    id: str = Field(description="Sinch's id for the inbound message")
    tenant_id: str | None = None
    from_: str = Field(alias="from", description="The handset's number, E.164")
    to: str = Field(description="Our sender number it was sent to, as Sinch wrote it")
    body: str = Field(description="The text (an MMS's message; empty when it has none)")
    subject: str | None = Field(default=None, description="An MMS's subject")
    media: tuple[InboundMedia, ...] = Field(default=(), description="An MMS's files")
    media_omitted: int = Field(default=0, description="Files Sinch listed past what is kept of them")
    action: Action | None = None
    message_id: str | None = Field(default=None, description="Our message it answers, when Sinch says")
    received_at: datetime = Field(description="When Sinch received it")
    created_at: datetime = Field(description="When the gateway received it")


def kept_media(files: Iterable[InboundMedia]) -> tuple[tuple[InboundMedia, ...], int]:
    """The files whose details are kept (in order, within MAX_MEDIA_BYTES), and how many are not.
    A file's size is its details as JSON in UTF-8: more than DynamoDB counts for them."""
    kept: list[InboundMedia] = []
    omitted, room = 0, MAX_MEDIA_BYTES
    for item in files:
        size = len(json.dumps(item.model_dump(mode="json"), ensure_ascii=False).encode())
        if omitted or size > room:
            omitted += 1
        else:
            kept.append(item)
            room -= size
    return tuple(kept), omitted


class RecipientOptedOut(InvalidRequest):
    """The recipient texted STOP to the number we would send from, and no START since."""

    code = "recipient_opted_out"
