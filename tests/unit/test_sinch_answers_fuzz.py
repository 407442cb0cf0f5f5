"""Any answer from Sinch (status, body, Retry-After) becomes a typed outcome, never an exception,
and nothing in an outcome is a value we could not store, send back or wait for."""

import json
import math
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from urllib3 import HTTPResponse

from sinch_gateway.domain.outcomes import Accepted, Answered, AuthFailed, DryRun, NotFound, Refused, Transient
from sinch_gateway.sinch.xms import (
    MAX_ERROR_TEXT_CHARS,
    MAX_RETRY_AFTER_S,
    as_dry_run,
    as_lookup,
    as_send_outcome,
    classify,
    parse_retry_after,
)
from sinch_gateway.usecases.sending import unavailable_error
from tests.strategies import json_values

REF = "3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"
JSON = json_values(max_leaves=16)
# Sinch's own field names, with values of any type: wrong shapes where they hurt.
SINCH_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON,
        "code": JSON,
        "text": JSON,
        "batches": JSON
        | st.lists(st.fixed_dictionaries({"client_reference": st.just(REF)}, optional={"id": JSON})),
        "count": JSON,
        "number_of_messages": JSON,
        "per_recipient": JSON
        | st.lists(
            st.dictionaries(st.sampled_from(["recipient", "number_of_parts", "encoding", "body"]), JSON)
        ),
    },
)
BODIES = (
    st.binary(max_size=64)
    | (JSON | SINCH_SHAPED).map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"[" * 100_000, b'{"id": "\\ud800"}', b'{"code": "\\udfff"}', b"NaN", b"1e400", b""])
)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
RETRY_AFTER = (
    HEADER_TEXT
    | st.sampled_from(["inf", "Infinity", "nan", "1e400", "-5", "9" * 5000, "1_000", "0", "3", " 7 ", "1.5"])
    | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: format_datetime(d.replace(tzinfo=UTC), usegmt=True)
    )
)


def response(status: int, body: bytes, retry_after: str | None) -> HTTPResponse:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return HTTPResponse(body=body, status=status, headers=headers, preload_content=True)


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(st.integers(min_value=200, max_value=599), BODIES, st.none() | RETRY_AFTER)
@example(503, b"{}", "inf")  # round(inf) in the 503's Retry-After was an OverflowError and a 500
@example(200, b'{"per_recipient": 5}', None)  # iterating an int was a TypeError
@example(201, b"[" * 100_000, None)  # json.loads was a RecursionError
def test_any_answer_is_a_typed_outcome_with_values_we_can_use(
    status: int, body: bytes, retry_after: str | None
) -> None:
    outcome = classify(response(status, body, retry_after))
    assert isinstance(outcome, Answered | Transient | Refused | AuthFailed)
    if isinstance(outcome, Transient):
        assert outcome.retry_after_s is None or 0 <= outcome.retry_after_s <= MAX_RETRY_AFTER_S
        assert str(unavailable_error(outcome).retry_after_s).isdigit()
    if isinstance(outcome, Refused):
        assert re.fullmatch(r"[a-z0-9_]{1,64}", outcome.code)
        assert len(outcome.text) <= MAX_ERROR_TEXT_CHARS and storable(outcome.text)
        unavailable_error(outcome)

    sent = as_send_outcome(outcome)
    assert isinstance(sent, Accepted | Transient | Refused | AuthFailed)
    found = as_lookup(outcome, REF)
    assert isinstance(found, Accepted | NotFound | Transient | Refused | AuthFailed)
    for batch in (sent, found):
        if isinstance(batch, Accepted):
            assert re.fullmatch(r"[\x21-\x7e]{1,128}", batch.sinch_id)
    dry = as_dry_run(outcome)
    assert isinstance(dry, DryRun | Transient | Refused | AuthFailed)
    if isinstance(dry, DryRun):
        assert all(storable(p.body) and storable(p.encoding) for p in dry.recipients)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        ("1.5", 1.5),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("9" * 5000, MAX_RETRY_AFTER_S),
        ("99999999", MAX_RETRY_AFTER_S),
        (format_datetime(datetime(9999, 12, 31, tzinfo=UTC), usegmt=True), MAX_RETRY_AFTER_S),
        (format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True), 0.0),
        ("Mon, 01 Jan 2024 00:00:00 -0000", 0.0),  # a zone-less date is GMT, and past
        ("inf", None),
        ("nan", None),
        ("1e400", None),
        ("-5", None),
        ("1_000", None),
        ("\u0663", None),
        ("garbage", None),
        ("Fri, 99 Foo 2026 99:99:99 GMT", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_delay_seconds_or_an_http_date_and_bounded(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value) == seconds


def test_a_lookup_hides_no_batch_behind_a_malformed_page() -> None:
    def lookup(data: Any) -> object:
        return as_lookup(Answered(data), REF)

    assert lookup({"count": 0, "batches": []}) == NotFound()
    assert lookup({"batches": [{"client_reference": "other", "id": "B1"}]}) == NotFound()
    assert lookup({"batches": [{"client_reference": REF, "id": "B1"}]}) == Accepted("B1")
    # Sinch may hold our batch here, but we cannot tell which: never a resend.
    malformed: Any
    for malformed in (
        None,
        [],
        "x",
        {"batches": None},
        {"count": 0},  # Sinch's page always carries its list
        {"count": 1},
        {"batches": [{"client_reference": REF}]},
    ):
        assert isinstance(lookup(malformed), Transient), malformed
    assert isinstance(lookup({"batches": [{"client_reference": REF, "id": "\ud800"}]}), Transient)


def test_a_dry_run_of_an_unexpected_shape_is_sinch_unavailable() -> None:
    for data in ([1], {"per_recipient": "abc"}, {"number_of_messages": math.inf}, {"per_recipient": [None]}):
        assert as_dry_run(Answered(data)) == Transient("malformed_response")
    assert as_dry_run(Answered({"per_recipient": None})) == DryRun(0, ())
