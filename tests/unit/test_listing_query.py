"""The DynamoDB Query behind one page of GET /v1/messages: the time window in the key condition
(where DynamoDB compares text), every other filter after the read, the page bounded either way."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from sinch_gateway.data.messages import TENANT_INDEX, TENANT_KEY, listing_query, message_item
from sinch_gateway.domain.content import SmsContent
from sinch_gateway.domain.listing import MessageFilter
from sinch_gateway.domain.message import MessageRecord, sortable_time
from sinch_gateway.domain.status import Status

NOW = 1_796_680_000.0
TENANT = "k1l2m3n4o5"
ALIVE = "(attribute_not_exists(#ttl) OR #ttl > :now)"


def query(which: MessageFilter, start: dict[str, object] | None = None) -> dict[str, object]:
    return listing_query(TENANT_INDEX, TENANT_KEY, TENANT, which, limit=20, start_after=start, now=NOW)


def test_without_filters_it_reads_the_tenants_key_newest_first() -> None:
    q = query(MessageFilter())
    assert q["IndexName"] == "byTenant"
    assert q["KeyConditionExpression"] == "#key = :key"
    assert q["FilterExpression"] == ALIVE
    assert q["ExpressionAttributeNames"] == {"#key": "messageTenant", "#ttl": "ttl"}
    assert q["ExpressionAttributeValues"] == {":key": {"S": TENANT}, ":now": {"N": "1796680000"}}
    assert (q["ScanIndexForward"], q["Limit"]) == (False, 20)
    assert "ExclusiveStartKey" not in q


def test_the_window_is_one_key_condition_since_inclusive_until_exclusive_in_utc() -> None:
    since = datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    until = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    both = query(MessageFilter(since=since, until=until))
    assert both["KeyConditionExpression"] == "#key = :key AND createdAt BETWEEN :since AND :last"
    values = both["ExpressionAttributeValues"]
    assert isinstance(values, dict)
    assert values[":since"] == {"S": "2026-12-01T08:00:00.000000Z"}
    assert values[":last"] == {"S": "2026-12-01T11:59:59.999999Z"}

    assert (
        query(MessageFilter(since=since))["KeyConditionExpression"] == "#key = :key AND createdAt >= :since"
    )
    assert query(MessageFilter(until=until))["KeyConditionExpression"] == "#key = :key AND createdAt <= :last"


def test_status_and_recipient_are_filtered_after_the_read_by_their_reserved_names() -> None:
    q = query(MessageFilter(status=Status.DELIVERED, to="+12025550143"), start={"id": {"S": "x"}})
    assert q["FilterExpression"] == f"{ALIVE} AND #status = :status AND #to = :to"
    names, values = q["ExpressionAttributeNames"], q["ExpressionAttributeValues"]
    assert isinstance(names, dict) and isinstance(values, dict)
    assert (names["#status"], names["#to"]) == ("status", "to")
    assert (values[":status"], values[":to"]) == ({"S": "delivered"}, {"S": "+12025550143"})
    assert q["Limit"] == 20  # the filter never widens the read
    assert q["ExclusiveStartKey"] == {"id": {"S": "x"}}


TIMES = st.datetimes(timezones=st.just(UTC))  # years 1 to 9999: strftime writes year 999 as "999"


@given(TIMES, TIMES)
def test_stored_times_sort_as_text_in_time_order(a: datetime, b: datetime) -> None:
    assert (sortable_time(a) < sortable_time(b)) == (a < b)
    window = MessageFilter(since=min(a, b), until=max(a, b))
    assert window.holds(sortable_time(min(a, b))) == (a != b)
    assert not window.holds(sortable_time(max(a, b)))


def test_a_time_past_the_calendars_edge_in_utc_is_the_edge() -> None:
    """Such times are RFC 3339 (an API answer, not a 500): nothing was created past them."""
    assert sortable_time(datetime.fromisoformat("9999-12-31T23:59:59-23:59")) == "9999-12-31T23:59:59.999999Z"
    first = datetime.fromisoformat("0001-01-01T00:00:00+23:59")
    assert sortable_time(first) == "0001-01-01T00:00:00.000000Z"
    values = query(MessageFilter(until=datetime.min.replace(tzinfo=UTC)))["ExpressionAttributeValues"]
    assert isinstance(values, dict)
    assert values[":last"] == {"S": "0001-01-01T00:00:00.000000Z"}


def test_pydantics_own_form_of_a_whole_second_would_sort_after_its_fractions() -> None:
    """Why createdAt is written with all six digits: the window's bounds compare as text."""
    whole, later = (
        datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC),
        datetime(2026, 12, 1, 10, 0, 5, 200_000, tzinfo=UTC),
    )
    as_pydantic = TypeAdapter(datetime).dump_python
    assert as_pydantic(whole, mode="json") > as_pydantic(later, mode="json")
    record = MessageRecord(
        tenant_id=TENANT, to="+12025550143", content=SmsContent(text="Hi"), created_at=whole
    )
    item = message_item(record)
    assert item["createdAt"] == "2026-12-01T10:00:05.000000Z" < sortable_time(later)
    assert (item["messageTenant"], item["channel"]) == (TENANT, "sms")
    assert MessageRecord.model_validate(item).created_at == whole
