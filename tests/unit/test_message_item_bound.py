"""How big a message's DynamoDB item can get: the largest message the API admits, holding the most
that a message can gather while it lives, stays under the bound docs/statuses.md states, and
that is under DynamoDB's 400 KB.

Each value is the longest its rule allows, in 4-byte characters where the rule counts characters
(an emoji is one character and four bytes of UTF-8). Sizes are counted as DynamoDB counts them
(devstack.dynamodb_limits, which the local stack's moto enforces).
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from devstack.dynamodb_limits import MAX_ITEM_BYTES, item_size
from sinch_gateway.api.models import MMS_MAX_CHARS, SMS_MAX_CHARS, SUBJECT_MAX_CHARS
from sinch_gateway.data.messages import message_item, to_item
from sinch_gateway.domain.content import (
    MessageContent,
    MmsSlidesContent,
    MmsTemplateContent,
    Slide,
    SlideMedia,
    SlideText,
    SmsContent,
    XmsMediaContent,
)
from sinch_gateway.domain.fan_out import call_reference
from sinch_gateway.domain.message import (
    ITEM_BOUND_BYTES,
    MAX_EVENT_DETAIL_CHARS,
    MAX_EVENTS,
    MAX_STORED_CODE_CHARS,
    MAX_STORED_ERROR_CHARS,
    STATUS_MOVES,
    MessageRecord,
    StatusEvent,
)
from sinch_gateway.domain.mms_media import MAX_MEDIA_PER_SLIDE, MAX_SLIDE_TEXT_CHARS, MAX_SLIDES
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.tenants import MAX_TENANT_ID_CHARS
from sinch_gateway.media.preflight import SUPPORTED_CONTENT_TYPES

WIDE = "\U0001f600"  # one character, four bytes in UTF-8
URL_CHARS = 2083  # pydantic's HttpUrl: mediaUrl, statusCallbackUrl
NONCE_CHARS = 128  # domain.webhook_auth: a signed report's nonce
SINCH_ID_CHARS = 128  # sinch.xms: the batch id (or MMS tracking id) we keep
AT = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def wide(chars: int) -> str:
    return WIDE * chars


def url(chars: int = URL_CHARS) -> str:
    return "https://media.example.com/" + "a" * (chars - 26)


def largest_event(status: Status) -> StatusEvent:
    return StatusEvent(
        status=status,
        at=AT,
        code=wide(MAX_STORED_CODE_CHARS),
        detail=wide(MAX_EVENT_DETAIL_CHARS),
        operator_at=AT,
        stale=True,
        count=10**15,  # a retry a second for 30 million years
        last_at=AT,
    )


def largest_slides() -> MmsSlidesContent:
    media = SlideMedia(url=url(), content_type=max(SUPPORTED_CONTENT_TYPES, key=len), key="media/" + "k" * 43)
    return MmsSlidesContent(
        slides=tuple(
            Slide(text=wide(MAX_SLIDE_TEXT_CHARS), media=(media,) * MAX_MEDIA_PER_SLIDE)
            for _ in range(MAX_SLIDES)
        ),
        subject=wide(SUBJECT_MAX_CHARS),
        fallback_text=wide(SMS_MAX_CHARS),
        disable_fallback_sms=True,
        disable_fallback_sms_link=True,
        from_mask="A" * 11,
    )


def largest_message(content: MessageContent) -> dict[str, Any]:
    """The item, as the repository writes it, of a message with `content` that gathered all it can."""
    events = [largest_event(Status.RETRYING)] * MAX_EVENTS + [largest_event(Status.DELIVERED)] * STATUS_MOVES
    record = MessageRecord(
        id=str(uuid.uuid4()),
        tenant_id=wide(MAX_TENANT_ID_CHARS),
        to="+" + "9" * 15,
        content=content,
        sender="+" + "9" * 15,
        client_reference=wide(128),
        send_at=AT,
        expire_at=AT,
        webhook_url=url(),
        status_callback_url=url(),
        sinch_id="b" * SINCH_ID_CHARS,
        batch_id=str(uuid.uuid4()),
        call_reference=call_reference("b" * 80, 999_999),  # the longest a batch's call is named
        status=Status.DELIVERED,
        attempts=10**15,
        error_code=wide(MAX_STORED_CODE_CHARS),
        error_text=wide(MAX_STORED_ERROR_CHARS),
        sinch_http_status=599,
        segments=10,
        encoding="UNICODE",
        delivered_as="sms",
        unconfirmed=True,
        events=events,
        created_at=AT,
        updated_at=AT,
        ttl=2**40,
    )
    item = to_item(message_item(record))
    # What only writes add: a sender's lease, and the nonces of the signed reports taken.
    item["leaseUntil"] = {"N": str(2**40)}
    item["reportNonces"] = {"SS": [f"{n:0{NONCE_CHARS}d}" for n in range(MAX_EVENTS + STATUS_MOVES)]}
    return item


def test_every_attribute_a_message_can_hold_is_in_the_largest_one() -> None:
    """A new attribute must be counted here before the bound can be trusted again."""
    item = largest_message(largest_slides())
    stored_names = {field.alias or name for name, field in MessageRecord.model_fields.items()}
    assert stored_names | {
        "statusRank",
        "tenantRef",
        "messageTenant",
        "channel",
        "leaseUntil",
        "reportNonces",
    } == set(item)


def test_the_largest_message_stays_under_the_stated_bound() -> None:
    contents: list[MessageContent] = [
        SmsContent(text=wide(SMS_MAX_CHARS)),
        XmsMediaContent(
            media_url=url(), media_key="media/" + "k" * 43, text=wide(MMS_MAX_CHARS), subject=wide(80)
        ),
        largest_slides(),
        MmsTemplateContent(
            template_id=wide(64),
            mms_id="m" * SINCH_ID_CHARS,
            slide_texts=tuple(SlideText(slide=n, text=wide(MAX_SLIDE_TEXT_CHARS)) for n in range(MAX_SLIDES)),
            subject=wide(SUBJECT_MAX_CHARS),
            fallback_text=wide(SMS_MAX_CHARS),
            from_mask="A" * 11,
        ),
    ]

    sizes = [item_size(largest_message(content)) for content in contents]

    assert max(sizes) <= ITEM_BOUND_BYTES < MAX_ITEM_BYTES, sizes


def test_texts_from_sinch_and_retries_are_clipped_to_their_bounds() -> None:
    long = "x" * 5000
    event = StatusEvent(status=Status.FAILED, at=AT, code=long, detail=long)
    record = MessageRecord(tenant_id="t", to="+12025550143", content=SmsContent(text="hi"), error_text=long)

    assert (len(str(event.code)), len(event.detail or "")) == (MAX_STORED_CODE_CHARS, MAX_EVENT_DETAIL_CHARS)
    assert (event.detail or "").endswith("\u2026"), "a clipped text says it was clipped"
    assert len(record.error_text or "") == MAX_STORED_ERROR_CHARS
