"""GET /v1/messages on moto: a tenant's own messages, newest first, filtered and paged through the
byTenant index; never another tenant's, whatever the token says."""

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.integration.conftest import Env

FIRST, SECOND = "+12025550143", "+12025550144"


def fresh_tenant(env: Env) -> str:
    """A tenant of its own: the table is shared by every test of the session."""
    tenant = "ls" + uuid.uuid4().hex[:12]
    env.register(tenant)
    return tenant


def send(env: Env, tenant: str, to: str, **fields: str) -> dict[str, Any]:
    answer = env.call(
        "SendFunction",
        "POST",
        path="/v1/messages",
        body=json.dumps({"to": to, "text": "Hello", **fields}),
        tenant=tenant,
    )
    body: dict[str, Any] = json.loads(answer["body"])
    return body


def listing(env: Env, tenant: str, **query: str) -> tuple[int, Any]:
    return env.api("SendFunction", "GET", path="/v1/messages", query=query or None, tenant=tenant)


def every_page(env: Env, tenant: str, **query: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item, following nextToken to the end, and every page on the way."""
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        status, page = listing(env, tenant, **query, **({"nextToken": token} if token else {}))
        assert status == 200, page
        pages.append(page)
        token = page.get("nextToken")
        if not token:
            return [m for p in pages for m in p["items"]], pages
        assert len(pages) < 50, "the listing never ended"


def test_a_tenants_messages_come_newest_first_across_pages_as_summaries(env: Env) -> None:
    tenant = fresh_tenant(env)
    ids = [send(env, tenant, FIRST)["id"] for _ in range(5)]

    items, pages = every_page(env, tenant, limit="2")

    assert [m["id"] for m in items] == ids[::-1]
    assert [len(p["items"]) for p in pages[:3]] == [2, 2, 1]
    # No events, no text: GET /v1/messages/{id} has them.
    assert items[0] == {
        "id": ids[-1],
        "status": "submitted",
        "channel": "sms",
        "to": FIRST,
        "clientReference": None,
        "segments": 1,
        "error": None,
        "createdAt": items[0]["createdAt"],
    }


def test_each_filter_and_their_combination_lists_exactly_its_messages(env: Env) -> None:
    tenant = fresh_tenant(env)
    first = send(env, tenant, FIRST, clientReference="order-1")
    env.faults({"match": "batches", "status": 400, "times": 1})
    refused = send(env, tenant, SECOND)
    second = send(env, tenant, SECOND, clientReference="order-1")
    third = send(env, tenant, FIRST)

    def ids(**query: str) -> list[str]:
        return [m["id"] for m in every_page(env, tenant, **query)[0]]

    rejected = every_page(env, tenant, status="rejected")[0]
    assert [m["id"] for m in rejected] == [refused["messageId"]]
    assert rejected[0]["error"]["code"]  # Sinch's code, as GET /v1/messages/{id} has it
    assert ids(to=SECOND) == [second["id"], refused["messageId"]]
    assert ids(to="+1 (202) 555-0144") == ids(to=SECOND)  # written as a send may write it
    assert ids(clientReference="order-1") == [second["id"], first["id"]]
    assert ids(clientReference="order-1", to=FIRST) == [first["id"]]

    middle = datetime.fromisoformat(second["createdAt"])
    assert ids(since=second["createdAt"]) == [third["id"], second["id"]]  # inclusive
    assert ids(until=second["createdAt"]) == [refused["messageId"], first["id"]]  # exclusive
    # The same instant in another time zone is the same window.
    elsewhere = middle.astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert ids(since=elsewhere) == [third["id"], second["id"]]
    assert ids(since=first["createdAt"], until=third["createdAt"], to=SECOND, status="submitted") == [
        second["id"]
    ]
    assert ids(status="submitted", clientReference="order-1", since=second["createdAt"]) == [second["id"]]
    assert ids(status="delivered") == []


def test_a_filtered_page_may_be_short_and_the_token_still_leads_to_the_rest(env: Env) -> None:
    tenant = fresh_tenant(env)
    wanted = [send(env, tenant, SECOND)["id"]]
    for _ in range(3):
        send(env, tenant, FIRST)
    wanted.insert(0, send(env, tenant, SECOND)["id"])

    items, pages = every_page(env, tenant, to=SECOND, limit="2")

    assert [m["id"] for m in items] == wanted
    # limit bounds the messages read: the page of two FIRSTs holds none of SECOND's, and goes on.
    assert any(p["items"] == [] and p["nextToken"] for p in pages), pages


def test_another_tenants_messages_never_appear_whatever_the_token_names(env: Env) -> None:
    mine, theirs = fresh_tenant(env), fresh_tenant(env)
    kept = [send(env, theirs, FIRST, clientReference="shared")["id"] for _ in range(3)]
    own = send(env, mine, FIRST, clientReference="shared")["id"]

    assert [m["id"] for m in every_page(env, mine)[0]] == [own]
    assert [m["id"] for m in every_page(env, mine, clientReference="shared")[0]] == [own]

    # Their token, and a token forged to name their key, are no good to me.
    _, page = listing(env, theirs, limit="1")
    token = page["nextToken"]
    forged = base64.urlsafe_b64encode(
        json.dumps(
            {"id": {"S": kept[1]}, "messageTenant": {"S": theirs}, "createdAt": {"S": "2099-01-01T00:00:00Z"}}
        ).encode()
    ).decode()
    for bad in (token, forged):
        status, body = listing(env, mine, nextToken=bad)
        assert (status, body["type"]) == (400, "/problems/invalid-token"), body
    # Nor is a token of one listing to another of the same tenant's.
    _, by_reference = listing(env, theirs, clientReference="shared", limit="1")
    status, body = listing(env, theirs, nextToken=by_reference["nextToken"])
    assert status == 400, body


def test_a_token_outside_the_time_window_is_a_400_not_a_dynamodb_error(env: Env) -> None:
    tenant = fresh_tenant(env)
    sent = [send(env, tenant, FIRST) for _ in range(3)]
    _, page = listing(env, tenant, limit="1")  # continues after the newest

    status, body = listing(env, tenant, nextToken=page["nextToken"], since=sent[2]["createdAt"])
    assert status == 200, body  # the newest is in [since, ...): the token is good
    later = (datetime.fromisoformat(sent[2]["createdAt"]) + timedelta(microseconds=1)).isoformat()
    for window in ({"since": later}, {"until": sent[2]["createdAt"]}):
        status, body = listing(env, tenant, nextToken=page["nextToken"], **window)
        assert (status, body["type"]) == (400, "/problems/invalid-token"), body


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "12025550143"}, "to"),  # no country code
        ({"to": " 12025550143"}, "to"),  # a + that a URL turned into a space
        ({"to": "+1202555014x"}, "to"),
        ({"status": "sent"}, "status"),
        ({"since": "2026-12-01T10:00:00"}, "since"),  # no time zone
        ({"since": "2026-12-01"}, "since"),
        ({"since": "1764583200"}, "since"),  # seconds since 1970: not RFC 3339
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-12-01T10:00:00Z", "until": "2026-12-01T10:00:00Z"}, "until"),
        ({"since": "2026-12-01T10:00:00Z", "until": "2026-12-01T09:00:00Z"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"clientReference": ""}, "clientReference"),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(env: Env, query: dict[str, str], field: str) -> None:
    status, body = listing(env, fresh_tenant(env), **query)
    assert status == 422, body
    assert [e["field"] for e in body["errors"]] == [field]
