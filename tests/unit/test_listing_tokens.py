"""Continuation tokens: whatever a client sends as nextToken is a 400 unless it is a key we gave."""

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinch_gateway.api.listing import MAX_TOKEN_CHARS, decode_token, encode_token
from sinch_gateway.api.problems import problem_kind
from sinch_gateway.data.inbound import is_inbound_item_id
from sinch_gateway.data.messages import is_message_id
from sinch_gateway.domain.errors import InvalidToken
from sinch_gateway.domain.listing import MessageFilter
from tests.strategies import json_values

REF = "k1l2m3n4o5#order-7"  # tenant#clientReference
KEY = {
    "id": {"S": "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"},
    "tenantRef": {"S": REF},
    "createdAt": {"S": "2026-11-23T19:00:00.123456Z"},
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def refused(token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        decode_token(token, REF)
    kind = problem_kind(info.value)
    assert (kind.status, kind.type) == (400, "/problems/invalid-token")
    assert info.value.errors == [("nextToken", "is not a valid continuation token")]
    return info.value


def test_a_token_we_gave_comes_back_as_its_key() -> None:
    assert decode_token(encode_token(KEY), REF) == KEY


@pytest.mark.parametrize(
    "token",
    [
        "!!!",
        "\u00fc",
        "\ud800",
        b64(b"not json"),
        b64(b"\xff\xfe"),
        b64(b"[" * 5000),
        b64(b'"\\ud800"'),
        b64(json.dumps({"tenantRef": REF}).encode()),
        b64(json.dumps({"tenantRef": 5}).encode()),
        b64(json.dumps({**KEY, "extra": {"S": "x"}}).encode()),
        b64(json.dumps({**KEY, "id": {"N": "1"}}).encode()),
        b64(json.dumps({**KEY, "id": {"S": "1"}}).encode()),  # no message id: DynamoDB never sees it
        b64(json.dumps({**KEY, "id": {"S": "a" * 3000}}).encode()),
        b64(json.dumps({**KEY, "createdAt": {"BOOL": True}}).encode()),
        b64(json.dumps({**KEY, "createdAt": {"S": "", "N": "1"}}).encode()),
        b64(json.dumps({**KEY, "tenantRef": {"S": "k1l2m3n4o5#order-8"}}).encode()),  # another listing's
        b64(json.dumps({**KEY, "tenantRef": {"S": "z9y8x7w6v5#order-7"}}).encode()),  # another tenant's
        # A sort key past DynamoDB's 1,024 bytes in fewer characters (a ValidationException there).
        b64(json.dumps({**KEY, "createdAt": {"S": "\u00e9" * 600}}, ensure_ascii=False).encode()),
        b64(json.dumps({**KEY, "createdAt": {"S": "2026-11-23T19:00:00Z" + "\u00e9" * 600}}).encode()),
        b64(json.dumps({**KEY, "createdAt": {"S": "\u0662026-11-23T19:00:00Z"}}).encode()),  # an Arabic 2
        b64(json.dumps({**KEY, "createdAt": {"S": "yesterday"}}).encode()),
        encode_token(KEY) + "!",
        encode_token(KEY) * 20,  # longer than any token we give
    ],
)
def test_anything_but_a_key_we_gave_is_a_400(token: str) -> None:
    refused(token)


JSON = json_values(max_leaves=12)
# A key with its parts replaced by anything, at any depth: the shapes a forged token takes.
FORGED_KEY = st.fixed_dictionaries(
    {},
    optional={
        name: JSON | st.fixed_dictionaries({}, optional={"S": JSON, "N": JSON})
        for name in ("id", "tenantRef", "createdAt", "other")
    },
)


@given(FORGED_KEY | JSON)
def test_any_json_of_another_shape_is_a_400(data: Any) -> None:
    token = b64(json.dumps(data).encode())
    try:
        key = decode_token(token, REF)
    except InvalidToken:
        return
    # Accepted only when it is exactly a key of this listing.
    assert set(key) == {"id", "tenantRef", "createdAt"}
    assert key["tenantRef"] == {"S": REF}
    assert str(uuid.UUID(key["id"]["S"])) == key["id"]["S"]


@pytest.mark.parametrize(
    "created_at", ["2026-11-23T19:00:00Z", "2026-11-23T19:00:00.1Z", "2026-11-23T19:00:00.123456+00:00"]
)
def test_every_timestamp_the_gateway_writes_passes(created_at: str) -> None:
    key = {**KEY, "createdAt": {"S": created_at}}
    assert decode_token(encode_token(key), REF) == key


def test_an_inbound_token_names_an_inbound_item_as_record_makes_it() -> None:
    ref = "#inbound#k1l2m3n4o5"
    key = {**KEY, "tenantRef": {"S": ref}, "id": {"S": "inbound#01JD8Y5M7N9P1Q3R5S7T9V1W3X"}}
    assert decode_token(encode_token(key), ref, is_inbound_item_id) == key
    for forged in ("inbound#" + "\u00e9" * 1000, "inbound#", "inbound#a b", "inbound#" + "A" * 101):
        with pytest.raises(InvalidToken):
            decode_token(encode_token({**key, "id": {"S": forged}}), ref, is_inbound_item_id)


@given(st.text(max_size=MAX_TOKEN_CHARS + 50))
def test_any_text_is_a_400(token: str) -> None:
    refused(token)  # text from nowhere is never exactly the base64 of one of our keys


@pytest.mark.parametrize(
    ("value", "ours"),
    [
        ("0c4a7d3e-2b1f-4e8a-9c6d-5f3b2a1e0d9c", True),  # uuid4
        (str(uuid.uuid5(uuid.NAMESPACE_URL, "x")), True),
        ("0C4A7D3E-2B1F-4E8A-9C6D-5F3B2A1E0D9C", False),
        ("3f1c2a8e5b7d4c9e8a6f2d4b1e0c9a7b", False),
        ("nonce#01JD8Y5M7N9P1Q3R5S7T9V1W3X", False),
        ("a" * 3000, False),
        ("\ud800", False),
        ("", False),
        ("0c4a7d3e-2b1f-4e8a-9c6d-5f3b2a1e0d9c\n", False),
    ],
)
def test_only_our_uuid_form_is_a_message_id(value: str, ours: bool) -> None:
    assert is_message_id(value) is ours


TENANT = "k1l2m3n4o5"
TENANT_KEY = {**{k: v for k, v in KEY.items() if k != "tenantRef"}, "messageTenant": {"S": TENANT}}


def test_a_tenant_listings_token_is_good_for_that_tenant_only() -> None:
    assert decode_token(encode_token(TENANT_KEY), TENANT, by_tenant=True) == TENANT_KEY
    forged = [
        {**TENANT_KEY, "messageTenant": {"S": "z9y8x7w6v5"}},  # another tenant's key
        {**TENANT_KEY, "messageTenant": {"S": REF}},  # a clientReference listing's value
        KEY,  # a clientReference listing's token
        {**TENANT_KEY, "tenantRef": {"S": REF}},
    ]
    for key in forged:
        with pytest.raises(InvalidToken):
            decode_token(encode_token(key), TENANT, by_tenant=True)
    with pytest.raises(InvalidToken):  # and the other way round
        decode_token(encode_token(TENANT_KEY), REF)


@pytest.mark.parametrize(
    ("since", "until", "good"),
    [
        (None, None, True),
        ("2026-11-23T19:00:00.123456Z", None, True),  # since is inclusive
        ("2026-11-23T19:00:00.123457Z", None, False),
        (None, "2026-11-23T19:00:00.123457Z", True),
        (None, "2026-11-23T19:00:00.123456Z", False),  # until is not
        ("2026-11-23T20:00:00+01:00", "2026-11-23T19:00:01Z", True),
    ],
)
def test_a_token_outside_the_listings_window_is_a_400(
    since: str | None, until: str | None, good: bool
) -> None:
    """DynamoDB refuses a start key its key condition excludes: a ValidationException, a 500."""
    window = MessageFilter(
        since=datetime.fromisoformat(since) if since else None,
        until=datetime.fromisoformat(until) if until else None,
    )
    token = encode_token(TENANT_KEY)
    if good:
        assert decode_token(token, TENANT, by_tenant=True, window=window) == TENANT_KEY
    else:
        with pytest.raises(InvalidToken):
            decode_token(token, TENANT, by_tenant=True, window=window)
