"""DynamoDB persistence of messages. Every write that changes a status is conditional."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, TypeVar

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from sinch_gateway.data.attribute_values import deserialize, serialize
from sinch_gateway.domain.listing import MessageFilter, MessageSummary, earlier_time
from sinch_gateway.domain.message import (
    MAX_EVENTS,
    UNCHANGED,
    Advanced,
    Change,
    MessageRecord,
    Placement,
    StatusEvent,
    compacted,
    placement,
    sortable_time,
    utcnow,
)
from sinch_gateway.domain.status import SENDABLE_STATUSES, Status, Transition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: deserialize(v) for k, v in item.items()}


CLIENT_REFERENCE_INDEX = "byClientReference"
# Every message of a tenant, newest first (template.yaml says what one tenant's key holds). Its
# key is an attribute only messages carry, so the index lists nothing else of the table's.
TENANT_INDEX = "byTenant"
TENANT_KEY = "messageTenant"
# A batch's messages (GET /v1/batches/{id}, its counts and its messages), newest first.
BATCH_INDEX = "byBatch"
BATCH_KEY = "gatewayBatchId"
# How often an event write is tried again when another writer changed the events in between
# (their number is the write's condition): a sender and a report or two at once, at most.
EVENT_WRITE_TRIES = 20
_EVENTS = TypeAdapter(list[StatusEvent])


def bookkeeping_id(kind: str, *parts: str) -> str:
    """Id of a non-message item in MessagesTable (an unmatched report, a rate schedule).

    Message ids are UUIDs, so an id with '#' never names a message. These items carry no
    tenantRef either, so the sparse byClientReference index never lists them.
    """
    return "#".join((kind, *parts))


# Message ids are lowercase UUIDs (message.py, queue_intake.py). Anything else names no message,
# and is never sent to DynamoDB as a key: it may be longer than a key can be, or not even text.
_MESSAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_message_id(value: str) -> bool:
    return _MESSAGE_ID.fullmatch(value) is not None


def _alive(item: dict[str, Any]) -> bool:
    # DynamoDB deletes expired items only eventually (moto never): past its TTL an item is gone.
    ttl = item.get("ttl", {}).get("N")
    return ttl is None or int(ttl) > time.time()


def tenant_ref(tenant_id: str, client_reference: str) -> str:
    """The byClientReference key: a listing is per tenant, even for the same clientReference."""
    return f"{tenant_id}#{client_reference}"


def attribute(field_name: str) -> str:
    """The attribute a MessageRecord field is stored as."""
    return MessageRecord.model_fields[field_name].alias or field_name


def message_item(record: MessageRecord) -> dict[str, Any]:
    item = record.model_dump(mode="json", exclude_none=True)
    item["statusRank"] = record.status.rank
    # The indexes' sort key: in text order, as the listings' time windows compare it.
    item["createdAt"] = sortable_time(record.created_at)
    # What a listing shows of a message comes from byTenant's projection alone (no content there).
    item["channel"] = record.channel.value
    item[TENANT_KEY] = record.tenant_id
    if record.client_reference:
        item["tenantRef"] = tenant_ref(record.tenant_id, record.client_reference)
    return item


def listing_query(
    index: str,
    key: str,
    value: str,
    which: MessageFilter,
    *,
    limit: int,
    start_after: dict[str, Any] | None,
    now: float,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """The Query (less its table) for one page of index `index` where `key` is `value`, newest
    first: the time window in the key condition, the other filters in a FilterExpression, which
    DynamoDB applies after reading `limit` items (so the page stays bounded, and may be short)."""
    names = {"#key": key, "#ttl": "ttl"}  # TTL, STATUS and TO are words DynamoDB reserves
    values: dict[str, Any] = {":key": value, ":now": int(now)}
    condition = "#key = :key"
    since = sortable_time(which.since) if which.since else None
    # One condition on the sort key: BETWEEN is inclusive, `until` is not.
    last = earlier_time(which.until) if which.until else None
    if since and last:
        condition += " AND createdAt BETWEEN :since AND :last"
    elif since:
        condition += " AND createdAt >= :since"
    elif last:
        condition += " AND createdAt <= :last"
    values |= {k: v for k, v in ((":since", since), (":last", last)) if v}
    # DynamoDB deletes an expired item only eventually: past its TTL it is gone.
    filters = ["(attribute_not_exists(#ttl) OR #ttl > :now)"]
    if which.status is not None:
        filters.append("#status = :status")
        names["#status"] = "status"
        values[":status"] = which.status.value
    if which.to is not None:
        filters.append("#to = :to")
        names["#to"] = "to"
        values[":to"] = which.to
    if key == BATCH_KEY:
        # A batch is one tenant's (checked before), and this says so again at the item.
        filters.append("#tenant = :tenant")
        names["#tenant"] = TENANT_KEY
        values[":tenant"] = tenant_id
        if which.client_reference is not None:
            filters.append("clientReference = :reference")
            values[":reference"] = which.client_reference
    query: dict[str, Any] = {
        "IndexName": index,
        "KeyConditionExpression": condition,
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": to_item(values),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start_after:
        query["ExclusiveStartKey"] = start_after
    return query


class _Once:
    """The clauses that keep a signed report's nonce on its message (`reportNonces`, a string
    set), and refuse a report whose nonce is there already. Empty without a nonce.

    `room` bounds the set: a report that changes no status (a stale one, folded or not) is kept
    only while the message holds fewer than MAX_EVENTS nonces. Status moves add at most
    STATUS_MOVES more (message.py), so the set never holds more than their sum.
    """

    def __init__(self, nonce: str | None) -> None:
        self.nonce = nonce
        self.add = " ADD reportNonces :nonces" if nonce else ""
        self.condition = " AND NOT contains(reportNonces, :nonce)" if nonce else ""
        self.values: dict[str, Any] = {":nonces": {"SS": [nonce]}, ":nonce": {"S": nonce}} if nonce else {}
        self.room = (
            " AND (attribute_not_exists(reportNonces) OR size(reportNonces) < :maxNonces)" if nonce else ""
        )
        self.room_values: dict[str, Any] = {":maxNonces": {"N": str(MAX_EVENTS)}} if nonce else {}

    def taken_by(self, item: dict[str, Any]) -> bool:
        return self.nonce is not None and self.nonce in item.get("reportNonces", {}).get("SS", [])

    def full(self, item: dict[str, Any]) -> bool:
        return self.nonce is not None and len(item.get("reportNonces", {}).get("SS", [])) >= MAX_EVENTS


@dataclass(frozen=True)
class _Recording:
    """How one write records an event: its SET clause (empty: the event is not kept), the
    condition that the events are still those it was planned after, and their names and values."""

    clause: str = ""
    condition: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


_APPEND = "events = list_append(events, :event)"
_SAME_EVENTS = " AND size(events) = :seen"


def _recording(event: StatusEvent, events: Sequence[StatusEvent] | None) -> _Recording:
    """`event` recorded after `events`: folded into the last, appended, or not kept (domain
    `placement`), on condition that the message still holds as many events (a list only grows,
    and a fold changes no event's status or code). `events` None: appended without looking."""
    dumped = event.model_dump(mode="json", exclude_none=True)
    if events is None:
        return _Recording(_APPEND, values={":event": [dumped]})
    seen = {":seen": len(events)}
    match placement(events, event):
        case Placement.FOLD:
            last = f"events[{len(events) - 1}]"
            return _Recording(
                f"{last}.#count = if_not_exists({last}.#count, :one) + :one, {last}.lastAt = :lastAt",
                _SAME_EVENTS,
                {**seen, ":one": 1, ":lastAt": dumped["at"]},
                {"#count": "count"},  # a reserved word in DynamoDB's expressions
            )
        case Placement.APPEND:
            return _Recording(_APPEND, _SAME_EVENTS, {**seen, ":event": [dumped]})
        case Placement.NOWHERE:
            return _Recording("", _SAME_EVENTS, seen)


class _EventsChanged(Exception):
    """Another writer changed a message's events between the read and the write: these are they."""

    def __init__(self, events: list[StatusEvent]) -> None:
        super().__init__("the message's events changed")
        self.events = events


def _is_message(item: Any) -> TypeGuard[dict[str, Any]]:
    # Only messages have a statusRank: any other item is no message of ours.
    return isinstance(item, dict) and "statusRank" in item


def _too_big(exc: ClientError) -> bool:
    """DynamoDB refused the write because the item would pass 400 KB."""
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "Item size" in str(error.get("Message", ""))


def _events_of(item: dict[str, Any]) -> list[StatusEvent]:
    return _EVENTS.validate_python(deserialize(item.get("events", {"L": []})))


BATCH_GET_ITEMS = 100  # DynamoDB's most keys in one BatchGetItem
# Single-item writes made at once by the bulk methods: within botocore's pool of 10 connections.
_PARALLEL_WRITES = 8
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def _each(write: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
    """`write` of each item, several at once (each waits on DynamoDB, not on this CPU), in order."""
    if len(items) <= 1:
        return [write(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(_PARALLEL_WRITES, len(items))) as pool:
        return list(pool.map(write, items))


def condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class MessageRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def create_claimed(self, record: MessageRecord, lease_s: int) -> MessageRecord | None:
        """Store a new message, claimed for its first attempt by the caller (see `claim`).

        None when a message with that id exists already (a duplicate delivery of a request).
        """
        claimed = record.model_copy(update={"attempts": record.attempts + 1})
        item = message_item(claimed)
        item["leaseUntil"] = int(time.time() + lease_s)
        return claimed if self._put_new(item) else None

    def create(self, record: MessageRecord) -> bool:
        """Store a new message as it is, claimed by nobody: refused before any attempt, or held
        until it is due. False when a message with that id exists already."""
        return self._put_new(message_item(record))

    def _put_new(self, item: dict[str, Any]) -> bool:
        try:
            self._db.put_item(
                TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def create_all(self, records: Sequence[MessageRecord], lease_s: int | None = None) -> list[MessageRecord]:
        """Store each new message where none with its id exists (claimed for its first attempt when
        `lease_s` is given); the ones stored, as stored.

        One conditional PutItem each, several at once: a slice delivered twice (even at once, to
        two containers) never overwrites a message that moved on, nor claims one twice.
        BatchWriteItem takes no condition; TransactWriteItems does, but costs two write units an
        item and fails whole when one item exists (a slice delivered again), for nothing more.
        """
        made = [self._new(record, lease_s) for record in records]
        stored = _each(lambda pair: self._put_new(pair[1]), made)
        return [record for (record, _), new in zip(made, stored, strict=True) if new]

    @staticmethod
    def _new(record: MessageRecord, lease_s: int | None) -> tuple[MessageRecord, dict[str, Any]]:
        if lease_s is None:
            return record, message_item(record)
        claimed = record.model_copy(update={"attempts": record.attempts + 1})
        item = message_item(claimed)
        item["leaseUntil"] = int(time.time() + lease_s)
        return claimed, item

    def get_all(self, message_ids: Sequence[str]) -> dict[str, MessageRecord]:
        """The messages that exist among `message_ids`, by id (BatchGetItem, consistent reads)."""
        wanted = [i for i in dict.fromkeys(message_ids) if is_message_id(i)]
        found: dict[str, MessageRecord] = {}
        for start in range(0, len(wanted), BATCH_GET_ITEMS):
            keys: list[dict[str, Any]] = [{"id": {"S": i}} for i in wanted[start : start + BATCH_GET_ITEMS]]
            while keys:
                answer = self._db.batch_get_item(
                    RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in answer.get("Responses", {}).get(self._table, []):
                    if _is_message(item) and _alive(item):
                        record = MessageRecord.model_validate(from_item(item))
                        found[record.id] = record
                unprocessed = answer.get("UnprocessedKeys", {}).get(self._table)
                keys = list(unprocessed["Keys"]) if unprocessed else []  # throttled: asked again
        return found

    def claim_all(
        self, message_ids: Sequence[str], lease_s: int, call_reference: str | None = None
    ) -> list[MessageRecord]:
        """Claim each message as `claim` does, naming the call it is for (if any); the ones
        claimed, as they stood before (with the reference of the call that carried them last).
        One conditional write each, several at once."""
        claimed = _each(lambda i: self._claim(i, lease_s, call_reference, "ALL_OLD"), message_ids)
        return [record for record in claimed if record is not None]

    def advance_all(
        self, records: Sequence[MessageRecord], event: StatusEvent, change: Change = UNCHANGED
    ) -> dict[str, Advanced]:
        """`advance` of each message (as read in `records`) to `event`, several at once."""

        def one(record: MessageRecord) -> Advanced:
            seen = record.events if event.status in SENDABLE_STATUSES else None
            return self.advance(record.id, event, seen_events=seen, change=change)

        return dict(zip((r.id for r in records), _each(one, records), strict=True))

    def get_for_tenant(self, tenant_id: str, message_id: str) -> MessageRecord | None:
        """The message if it is this tenant's: another tenant's is as absent as an unknown id."""
        record = self.get(message_id)
        return record if record is not None and record.tenant_id == tenant_id else None

    def get(self, message_id: str) -> MessageRecord | None:
        if not is_message_id(message_id):
            return None
        answer = self._db.get_item(TableName=self._table, Key={"id": {"S": message_id}}, ConsistentRead=True)
        item = answer.get("Item")
        return MessageRecord.model_validate(from_item(item)) if item and _alive(item) else None

    def list_for_tenant(
        self, tenant_id: str, which: MessageFilter, limit: int, start_after: dict[str, Any] | None = None
    ) -> tuple[list[MessageSummary], dict[str, Any] | None]:
        """One page of the tenant's messages that `which` lets through, newest first, and the key
        to continue after it (None on the last page). `limit` bounds the messages read: the
        filter may let fewer through, none even, before the last page."""
        if which.batch_id is not None:
            index, key, value = BATCH_INDEX, BATCH_KEY, which.batch_id
        elif which.client_reference is not None:
            index, key, value = (
                CLIENT_REFERENCE_INDEX,
                "tenantRef",
                tenant_ref(tenant_id, which.client_reference),
            )
        else:
            index, key, value = TENANT_INDEX, TENANT_KEY, tenant_id
        answer = self._db.query(
            TableName=self._table,
            **listing_query(
                index,
                key,
                value,
                which,
                limit=limit,
                start_after=start_after,
                now=time.time(),
                tenant_id=tenant_id,
            ),
        )
        items = answer.get("Items", [])
        if index == CLIENT_REFERENCE_INDEX:  # the whole message is there (and may predate `channel`)
            summaries = [MessageSummary.of(MessageRecord.model_validate(from_item(i))) for i in items]
        else:
            summaries = [MessageSummary.model_validate(from_item(i)) for i in items]
        return summaries, answer.get("LastEvaluatedKey")

    def count_by_status(self, batch_id: str) -> dict[Status, int]:
        """A batch's messages per status, read from byBatch (the status alone of each: 10,000
        messages are a few pages)."""
        counts: dict[Status, int] = {}
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BATCH_INDEX,
            "KeyConditionExpression": "#key = :key",
            "ProjectionExpression": "#status, #ttl",
            "ExpressionAttributeNames": {"#key": BATCH_KEY, "#status": "status", "#ttl": "ttl"},
            "ExpressionAttributeValues": {":key": {"S": batch_id}},
        }
        while True:
            answer = self._db.query(**query)
            for item in answer.get("Items", []):
                if _alive(item):
                    status = Status(item["status"]["S"])
                    counts[status] = counts.get(status, 0) + 1
            if "LastEvaluatedKey" not in answer:
                return counts
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def claim(self, message_id: str, lease_s: int) -> MessageRecord | None:
        """Take the right to send: only one sender at a time, and only before Sinch has it.

        The lease lets another sender take over if this one dies mid-send.
        """
        return self._claim(message_id, lease_s, None, "ALL_NEW")

    def _claim(
        self,
        message_id: str,
        lease_s: int,
        call_reference: str | None,
        returned: Literal["ALL_NEW", "ALL_OLD"],
    ) -> MessageRecord | None:
        if not is_message_id(message_id):
            return None
        now = time.time()
        naming = {":reference": call_reference} if call_reference else {}
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": message_id}},
                UpdateExpression="SET attempts = attempts + :one, leaseUntil = :until, updatedAt = :now"
                + (", callReference = :reference" if call_reference else ""),
                ConditionExpression="#s IN (:accepted, :retrying) AND "
                "(attribute_not_exists(leaseUntil) OR leaseUntil < :epoch)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":one": 1,
                        ":until": int(now + lease_s),
                        ":epoch": int(now),
                        ":now": utcnow().isoformat(),
                        ":accepted": Status.ACCEPTED.value,
                        ":retrying": Status.RETRYING.value,
                        **naming,
                    }
                ),
                ReturnValues=returned,
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            if _too_big(exc) and self._compact(message_id) is not None:
                # Smaller now, or not compacted a second time.
                return self._claim(message_id, lease_s, call_reference, returned)
            raise
        return MessageRecord.model_validate(from_item(answer["Attributes"]))

    def transition(
        self,
        message_id: str,
        status: Status,
        *,
        code: int | str | None = None,
        detail: str | None = None,
        at: Any = None,
        seen_events: Sequence[StatusEvent] | None = None,
        change: Change = UNCHANGED,
    ) -> Transition:
        """Move the message to `status` if that is forward (see `advance`)."""
        event = StatusEvent(status=status, at=at or utcnow(), code=code, detail=detail)
        return self.advance(message_id, event, seen_events=seen_events, change=change).transition

    def advance(
        self,
        message_id: str,
        event: StatusEvent,
        *,
        once: str | None = None,
        seen_events: Sequence[StatusEvent] | None = None,
        change: Change = UNCHANGED,
    ) -> Advanced:
        """Move the message to `event.status` if that is forward, and record the event; set and
        remove what `change` says (free texts clipped to their bounds).

        A retry may repeat `retrying`: its event folds into the last one when it repeats it, and
        is not kept on a message holding MAX_EVENTS events (the status and fields still are).
        That takes the events the message holds: `seen_events`, as the caller read them, saves a
        read; the write's condition checks their number, and a stale guess costs one more try.
        Any other status must rank strictly higher, above every event the message holds, so
        its event is appended as it is.

        Setting a status also ends a sender's lease. `once` is a signed report's nonce: the
        message keeps the nonces of the reports it took, and refuses one it holds already
        (REPLAYED, nothing written), so a replay costs no item of its own. One conditional write
        (more only when another writer changed the events meanwhile), which also returns the
        message when it made it final.
        """
        if not is_message_id(message_id):
            return Advanced(Transition.MISSING)
        events: Sequence[StatusEvent] | None = None
        if event.status in SENDABLE_STATUSES:
            if seen_events is None:
                current = self.get(message_id)
                if current is None:
                    return Advanced(Transition.MISSING)
                seen_events = current.events
            events = seen_events
        for _ in range(EVENT_WRITE_TRIES):
            try:
                return self._advance(message_id, event, events, once=once, change=change)
            except _EventsChanged as changed:
                events = changed.events if events is not None else None
        raise RuntimeError(f"the events of message {message_id} changed under {EVENT_WRITE_TRIES} writes")

    def _advance(
        self,
        message_id: str,
        event: StatusEvent,
        events: Sequence[StatusEvent] | None,
        *,
        once: str | None,
        change: Change,
    ) -> Advanced:
        """One try of `advance`, after `events` (None: appended without looking)."""
        status, now = event.status, utcnow()
        updates = {
            "status": status.value,
            "statusRank": status.rank,
            "updatedAt": now.isoformat(),
            **{attribute(name): value for name, value in change.values().items()},
        }
        names = {f"#f{i}": k for i, k in enumerate(updates)}
        values = {f":v{i}": v for i, v in enumerate(updates.values())}
        sets = [f"#f{i} = :v{i}" for i in range(len(updates))]
        recording = _recording(event, events)
        if recording.clause:
            sets.append(recording.clause)
        rank_test = "<=" if status in SENDABLE_STATUSES else "<"
        clear = [attribute(name) for name in change.cleared]
        names.update({f"#r{i}": name for i, name in enumerate(clear)})
        names.update(recording.names)
        removed = ", ".join(["leaseUntil", *(f"#r{i}" for i in range(len(clear)))])
        nonce = _Once(once)
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": message_id}},
                UpdateExpression=f"SET {', '.join(sets)} REMOVE {removed}{nonce.add}",
                ConditionExpression=(
                    f"attribute_exists(statusRank) AND statusRank {rank_test} :rank"
                    f"{recording.condition}{nonce.condition}"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    **to_item({**values, **recording.values, ":rank": status.rank}),
                    **nonce.values,
                },
                ReturnValues="ALL_NEW" if status.is_final else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                old = exc.response.get("Item")
                if not _is_message(old):
                    return Advanced(Transition.MISSING)
                if nonce.taken_by(old):
                    return Advanced(Transition.REPLAYED)
                if recording.condition and int(old["statusRank"]["N"]) <= status.rank:
                    # Still sendable (this is a retry's write): what failed was the events' number.
                    raise _EventsChanged(_events_of(old)) from None
                return Advanced(Transition.STALE)
            shrunk = self._compact(message_id) if _too_big(exc) else None
            if shrunk is not None:
                raise _EventsChanged(shrunk) from None
            raise
        item = answer.get("Attributes")
        return Advanced(Transition.MOVED, MessageRecord.model_validate(from_item(item)) if item else None)

    def append_event(self, message_id: str, event: StatusEvent, *, once: str | None = None) -> bool:
        """Keep an event that changes nothing else (not even updatedAt, which dates the status),
        folded into the last one when it repeats it.

        False when there is no such message, it holds MAX_EVENTS events (or report nonces)
        already, or it took a report with the nonce `once` before (see `advance`).
        """
        current = self.get(message_id)
        if current is None:
            return False
        events: Sequence[StatusEvent] = current.events
        nonce = _Once(once)
        for _ in range(EVENT_WRITE_TRIES):
            recording = _recording(event, events)
            if not recording.clause:
                return False
            names: dict[str, Any] = {"ExpressionAttributeNames": recording.names} if recording.names else {}
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"id": {"S": message_id}},
                    UpdateExpression=f"SET {recording.clause}{nonce.add}",
                    ConditionExpression=(
                        f"attribute_exists(statusRank){recording.condition}{nonce.condition}{nonce.room}"
                    ),
                    ExpressionAttributeValues={
                        **to_item(recording.values),
                        **nonce.values,
                        **nonce.room_values,
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **names,
                )
            except ClientError as exc:
                shrunk = self._compact(message_id) if _too_big(exc) else None
                if shrunk is not None:
                    events = shrunk
                    continue
                if not condition_failed(exc):
                    raise
                old = exc.response.get("Item")
                if not _is_message(old) or nonce.taken_by(old) or nonce.full(old):
                    return False
                events = _events_of(old)
                continue
            return True
        return False  # other writers kept changing them: this report is not kept, as on a full one

    def _compact(self, message_id: str) -> list[StatusEvent] | None:
        """Rewrite the events of a message that gathered them before these bounds existed, as
        they would have kept them (domain `compacted`): such an item can be so near DynamoDB's
        400 KB that it refuses every write that adds to it, a cancel's included. The events it
        holds now; None when it is gone or its events are as these bounds keep them already (the
        write was refused for another reason, and is not tried again)."""
        item = self._db.get_item(
            TableName=self._table, Key={"id": {"S": message_id}}, ConsistentRead=True
        ).get("Item")
        if not _is_message(item):
            return None
        held = item.get("events", {"L": []})
        # Read through the model, which also cuts texts stored before they were bounded.
        events = compacted(_events_of(item))
        kept = serialize([e.model_dump(mode="json", exclude_none=True) for e in events])
        if kept == held:
            return None
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"id": {"S": message_id}},
                UpdateExpression="SET events = :events",
                ConditionExpression="attribute_exists(statusRank) AND size(events) = :seen",
                ExpressionAttributeValues={":events": kept, ":seen": serialize(len(held["L"]))},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return _events_of(item)  # another writer was first: the next try sees its change
        return events

    def set_sinch_id(self, message_id: str, sinch_id: str) -> None:
        """Record Sinch's batch id even when a delivery report already moved the status on."""
        self._db.update_item(
            TableName=self._table,
            Key={"id": {"S": message_id}},
            UpdateExpression="SET batchId = :b, updatedAt = :now REMOVE leaseUntil",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues=to_item({":b": sinch_id, ":now": utcnow().isoformat()}),
        )
