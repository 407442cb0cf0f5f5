"""Unit tests of the Sinch simulator's pure parts: signing, part counting, validation, faults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest

from devstack.fictional import MAX_NUMBERS, fictional_numbers
from devstack.sinch_simulator.callbacks import split_userinfo
from devstack.sinch_simulator.common import ApiError, iso, new_ulid
from devstack.sinch_simulator.faults import FaultRule, FaultSet
from devstack.sinch_simulator.mediatypes import MMS_KIND_TYPES, XMS_TYPES, looks_like
from devstack.sinch_simulator.parts import _DEFAULT_TABLE, GSM_DEFAULT, GSM_EXTENSION, count_parts
from devstack.sinch_simulator.ratelimit import RateLimiter
from devstack.sinch_simulator.signing import (
    ALGORITHM,
    NONCE,
    SIGNATURE,
    TIMESTAMP,
    signature,
    signature_headers,
)
from devstack.sinch_simulator.validation import parse_batch_request
from tests.sinch_vectors import VECTOR_BODY, VECTOR_NONCE, VECTOR_SECRET, VECTOR_SIGNATURE, VECTOR_TIMESTAMP

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
TO = "+12025550143"
FROM = "+12025550100"


# --- signing (Sinch's HMAC webhook signature) ------------------------------------------------------


def test_signature_reproduces_sinchs_published_test_vector() -> None:
    got = signature(VECTOR_SECRET, VECTOR_BODY.encode(), VECTOR_NONCE, VECTOR_TIMESTAMP)
    assert got == VECTOR_SIGNATURE


def test_signature_headers_match_an_independent_hmac() -> None:
    body = b'{"type":"recipient_delivery_report_sms","code":0}'
    headers = signature_headers("whsec", body)
    assert headers[ALGORITHM] == "HmacSHA256"
    assert re.fullmatch(r"\d{10}", headers[TIMESTAMP])
    signed = f"{body.decode()}.{headers[NONCE]}.{headers[TIMESTAMP]}".encode()
    expected = base64.b64encode(hmac.new(b"whsec", signed, hashlib.sha256).digest()).decode()
    assert headers[SIGNATURE] == expected
    assert signature_headers("whsec", body)[NONCE] != headers[NONCE]  # a fresh nonce each time


def test_userinfo_in_a_callback_url_becomes_basic_auth() -> None:
    url, auth = split_userinfo("http://hook%40user:p%3Ass@127.0.0.1:8080/cb?x=1")
    assert url == "http://127.0.0.1:8080/cb?x=1"
    assert auth == "Basic " + base64.b64encode(b"hook@user:p:ss").decode()
    assert split_userinfo("http://127.0.0.1/cb") == ("http://127.0.0.1/cb", None)


# --- SMS parts, counted as Sinch counts them ------------------------------------------------------


def test_the_gsm_default_table_has_its_128_code_points() -> None:
    assert len(_DEFAULT_TABLE) == 128 and len(set(_DEFAULT_TABLE)) == 128
    assert _DEFAULT_TABLE.index("@") == 0x00 and _DEFAULT_TABLE.index("A") == 0x41
    assert _DEFAULT_TABLE.index("§") == 0x5F and _DEFAULT_TABLE.index("à") == 0x7F
    assert len(GSM_DEFAULT) == 127 and len(GSM_EXTENSION) == 10  # ESC is no character of its own
    assert not GSM_DEFAULT & GSM_EXTENSION


@pytest.mark.parametrize(
    ("text", "encoding", "count"),
    [
        ("", "GSM", 1),
        ("a" * 160, "GSM", 1),
        ("a" * 161, "GSM", 2),
        ("a" * 306, "GSM", 2),  # 2 x 153
        ("a" * 307, "GSM", 3),
        ("{" * 80, "GSM", 1),  # an extension character is ESC + char: two septets
        ("{" * 81, "GSM", 2),
        ("a" * 158 + "€", "GSM", 1),  # 160 septets exactly
        ("a" * 159 + "€", "GSM", 2),
        ("a" * 152 + "|" + "a" * 152, "GSM", 3),  # 306 septets, but ESC + | cannot straddle parts
        ("Ç" * 161, "GSM", 2),  # capital Ç is GSM...
        ("ç" * 70, "UNICODE", 1),  # ...small ç is not
        ("ç" * 71, "UNICODE", 2),
        ("ç" * 134, "UNICODE", 2),  # 2 x 67
        ("ç" * 135, "UNICODE", 3),
        ("🙂" * 35, "UNICODE", 1),  # outside the BMP: a surrogate pair, two units
        ("🙂" * 36, "UNICODE", 2),
        ("a" * 66 + "🙂" + "a" * 66, "UNICODE", 3),  # 134 units, but the pair cannot straddle parts
    ],
)
def test_parts_are_counted_like_sinch(text: str, encoding: str, count: int) -> None:
    assert (count_parts(text).encoding, count_parts(text).count) == (encoding, count)


# --- media types -------------------------------------------------------------------------------------


def test_each_mms_kind_takes_only_its_own_types() -> None:
    assert MMS_KIND_TYPES["image"] == {"image/jpg", "image/jpeg", "image/png", "image/gif"}
    assert "audio/wav" not in MMS_KIND_TYPES["audio"]  # the JSON API lists audio/x-wav, audio/x-wave
    assert "application/octet-stream" not in set().union(*MMS_KIND_TYPES.values())
    kinds_of = [kind for kind, types in MMS_KIND_TYPES.items() for _ in types]
    assert len(kinds_of) == len(set().union(*MMS_KIND_TYPES.values()))  # no type in two kinds
    assert "video/quicktime" not in XMS_TYPES and "text/plain" in XMS_TYPES


@pytest.mark.parametrize(
    ("content_type", "body", "ok"),
    [
        ("image/jpeg", b"\xff\xd8\xff\xe0rest", True),
        ("image/png", b"\xff\xd8\xff\xe0rest", False),
        ("audio/mpeg", b"ID3\x03", True),
        ("audio/mpeg", b"\xff\xfb\x90\x64", True),
        ("audio/x-wav", b"RIFF\x00\x00\x00\x00WAVEfmt ", True),
        ("video/x-msvideo", b"RIFF\x00\x00\x00\x00WAVEfmt ", False),
        ("video/mp4", b"\x00\x00\x00\x1cftypisom", True),
        ("text/vcard", b"\xef\xbb\xbf\r\nbegin:vcard\r\n", True),
        ("text/calendar", b"BEGIN:VCARD", False),
        ("application/pdf", b"%PDF-1.7", True),
        ("application/octet-stream", b"%PDF-1.7", False),
    ],
)
def test_content_is_checked_against_its_type(content_type: str, body: bytes, ok: bool) -> None:
    assert looks_like(content_type, body) is ok


# --- ids and timestamps ---------------------------------------------------------------------------


def test_batch_ids_are_26_crockford_base32_chars_and_unique() -> None:
    ids = {new_ulid() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)


def test_timestamps_have_milliseconds_and_z() -> None:
    assert iso(datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)) == "2024-05-01T10:00:00.123Z"


# --- batch validation ------------------------------------------------------------------------------


def _error(body: object) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        parse_batch_request(body, NOW)
    return caught.value.status, caught.value.code


def test_a_valid_text_batch_is_echoed_with_defaults() -> None:
    req = parse_batch_request({"to": [TO], "from": FROM, "body": "Hi", "client_reference": "r-1"}, NOW)
    assert req.type == "mt_text"
    assert req.echo["delivery_report"] == "none"
    assert req.echo["flash_message"] is False
    assert req.expire_at == NOW + timedelta(days=3)


def test_expire_at_defaults_to_three_days_after_send_at() -> None:
    send_at = NOW + timedelta(hours=2)
    req = parse_batch_request({"to": [TO], "from": FROM, "body": "Hi", "send_at": iso(send_at)}, NOW)
    assert req.expire_at == send_at + timedelta(days=3)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"to": None}, 400, "syntax_constraint_violation"),
        ({"to": []}, 400, "syntax_constraint_violation"),
        ({"to": TO}, 400, "syntax_invalid_parameter_format"),
        ({"to": ["12345"]}, 400, "syntax_invalid_parameter_format"),
        ({"to": ["+1202555014x"]}, 400, "syntax_invalid_parameter_format"),
        ({"to": [TO] * 1001}, 400, "syntax_constraint_violation"),  # counted before duplicates go
        ({"to": [TO, "+02025550143"]}, 400, "syntax_invalid_parameter_format"),  # no country code 0
        ({"parameters": {"a" * 17: {"default": "x"}}}, 400, "syntax_invalid_parameter_format"),
        ({"parameters": {"first name": {"default": "x"}}}, 400, "syntax_invalid_parameter_format"),
        ({"parameters": {"name": {"Ann": "x"}}}, 400, "syntax_invalid_parameter_format"),
        ({"parameters": {"name": {TO: "x" * 161}}}, 400, "syntax_constraint_violation"),
        ({"parameters": {"name": {"default": 7}}}, 400, "syntax_invalid_parameter_format"),
        ({"parameters": ["name"]}, 400, "syntax_invalid_parameter_format"),
        ({"from": None}, 400, "syntax_constraint_violation"),
        ({"from": "not a valid sender!"}, 400, "syntax_invalid_parameter_format"),
        ({"body": None}, 400, "syntax_constraint_violation"),
        ({"body": 7}, 400, "syntax_invalid_parameter_format"),
        ({"body": "x" * 2001}, 400, "syntax_constraint_violation"),
        ({"type": "mt_binary"}, 400, "syntax_constraint_violation"),
        ({"type": "mt_fax"}, 400, "syntax_invalid_parameter_format"),
        ({"delivery_report": "sometimes"}, 400, "syntax_invalid_parameter_format"),
        ({"delivery_report": "full"}, 403, "missing_callback_url"),
        ({"callback_url": "ftp://127.0.0.1/x"}, 400, "syntax_invalid_parameter_format"),
        ({"callback_url": "http://[::1"}, 400, "syntax_invalid_parameter_format"),  # was a 500
        ({"callback_url": "http://127.0.0.1:99999/cb"}, 400, "syntax_invalid_parameter_format"),
        ({"client_reference": "x" * 129}, 400, "syntax_constraint_violation"),
        ({"send_at": "tomorrow"}, 400, "syntax_invalid_parameter_format"),
        (
            {"send_at": iso(NOW + timedelta(hours=2)), "expire_at": iso(NOW + timedelta(hours=1))},
            400,
            "syntax_constraint_violation",
        ),
        ({"expire_at": iso(NOW + timedelta(days=4))}, 400, "syntax_constraint_violation"),
        ({"flash_message": "yes"}, 400, "syntax_invalid_parameter_format"),
        ({"type": "mt_media", "body": {"message": "text only"}}, 400, "syntax_constraint_violation"),
        ({"type": "mt_media", "body": "a string"}, 400, "syntax_invalid_parameter_format"),
        ({"type": "mt_media", "body": {"url": "not a url"}}, 400, "syntax_invalid_parameter_format"),
        ({"type": "mt_media", "body": {"url": "http://[x"}}, 400, "syntax_invalid_parameter_format"),
        (
            {"type": "mt_media", "body": {"url": "https://x.test/a.jpg", "subject": "s" * 81}},
            400,
            "syntax_constraint_violation",
        ),
    ],
)
def test_invalid_batches_are_refused_like_sinch(change: dict[str, object], status: int, code: str) -> None:
    body = {"to": [TO], "from": FROM, "body": "Hi", **change}
    assert _error({k: v for k, v in body.items() if v is not None}) == (status, code)


def test_a_body_that_is_not_an_object_is_invalid_json() -> None:
    assert _error(["to"]) == (400, "syntax_invalid_json")


def test_parameters_are_substituted_per_recipient() -> None:
    req = parse_batch_request(
        {
            "to": [TO, "+12025550144", "+12025550145"],
            "from": FROM,
            "body": "Hi ${name}, ${other}",
            "parameters": {"name": {"12025550143": "Ann", "default": "there"}, "x": {}},
        },
        NOW,
    )
    assert req.body_for(TO) == "Hi Ann, ${other}"
    assert req.body_for("+12025550144") == "Hi there, ${other}"
    unmatched = parse_batch_request(
        {"to": [TO], "from": FROM, "body": "Hi ${name}", "parameters": {"name": {"+12025550199": "Bo"}}}, NOW
    )
    assert unmatched.body_for(TO) is None


def test_parameter_limits_are_sinchs() -> None:
    req = parse_batch_request(
        {
            "to": [TO],
            "from": FROM,
            "body": "${a.b_c-0123456789}",
            "parameters": {"a.b_c-0123456789": {TO: "x" * 160, "default": ""}},
        },
        NOW,
    )
    assert req.body_for(TO) == "x" * 160


def test_a_number_listed_twice_is_one_recipient() -> None:
    req = parse_batch_request(
        {"to": [TO, TO, TO.removeprefix("+"), "+12025550144"], "from": FROM, "body": "Hi"}, NOW
    )
    assert req.to == (TO, "+12025550144")


def test_fictional_numbers_are_distinct_valid_us_numbers() -> None:
    numbers = fictional_numbers(MAX_NUMBERS)
    assert len(set(numbers)) == MAX_NUMBERS == 10_000
    for number in numbers:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == "US"
        assert number[5:10] == "55501"  # the fictional 555-0100..0199 of its area code
    assert fictional_numbers(2, start=150) == ["+12025550150", "+12025550151"]
    with pytest.raises(ValueError):
        fictional_numbers(1, start=MAX_NUMBERS)


# --- fault rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"match": "nothing", "status": 500},
        {"match": "batches"},
        {"match": "batches", "status": 200},
        {"match": "batches", "status": 503, "drop_connection": True},
        {"match": "batches", "final": "Failed"},
        {"match": "callbacks", "status": 503},
        {"match": "callbacks", "final": "Lost"},
        {"match": "callbacks", "code": 402},
        {"match": "media", "accept_then_drop": True},
        {"match": "batches", "status": 503, "times": 0},
        {"match": "batches", "status": 503, "probability": 1.5},
        {"match": "batches", "delay_ms": float("inf")},  # JSON's 1e400
        {"match": "batches", "retry_after": float("nan")},
    ],
)
def test_invalid_fault_rules_are_refused(rule: dict[str, object]) -> None:
    faults = FaultSet()
    with pytest.raises(ValueError):
        faults.replace({"rules": [rule]})


def test_times_counts_down_and_the_first_live_rule_wins() -> None:
    faults = FaultSet()
    faults.replace(
        {"rules": [{"match": "batches", "status": 503, "times": 2}, {"match": "batches", "status": 500}]}
    )
    picked = [rule.status for _ in range(4) if (rule := faults.pick("batches"))]
    assert picked == [503, 503, 500, 500]
    assert faults.pick("dry_run") is None
    assert faults.as_json()["rules"][0] == {"match": "batches", "status": 503, "times": 0}


def test_retry_after_alone_means_429() -> None:
    assert FaultRule.parse({"match": "batches", "retry_after": 2}).status == 429


def test_probability_is_repeatable_with_a_seed() -> None:
    def run() -> list[bool]:
        faults = FaultSet()
        faults.replace({"seed": 7, "rules": [{"match": "batches", "status": 429, "probability": 0.3}]})
        return [faults.pick("batches") is not None for _ in range(50)]

    first = run()
    assert first == run()
    assert 0 < sum(first) < 50


# --- rate limit --------------------------------------------------------------------------------------


def test_rate_limit_is_per_plan_and_refusals_do_not_count() -> None:
    limiter = RateLimiter()
    assert [limiter.allow("a", 2) for _ in range(3)] == [True, True, False]
    assert limiter.allow("b", 2)
    assert limiter.allow("a", None)


def test_rate_limit_counts_messages_not_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("devstack.sinch_simulator.ratelimit.time.monotonic", lambda: clock[0])
    limiter = RateLimiter()
    assert limiter.allow("a", 500, 400)
    assert not limiter.allow("a", 500, 101)  # 501 messages in one second
    assert limiter.allow("a", 500, 100)
    assert not limiter.allow("a", 500)
    clock[0] += 1.0
    assert limiter.allow("a", 500, 500)


def test_a_call_bigger_than_the_limit_needs_an_empty_window_and_holds_it_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr("devstack.sinch_simulator.ratelimit.time.monotonic", lambda: clock[0])
    limiter = RateLimiter()
    assert limiter.allow("a", 100, 1)
    assert not limiter.allow("a", 100, 300)  # never more than the limit on top of others
    clock[0] += 1.0
    assert limiter.allow("a", 100, 300)  # alone it goes: else it could never be sent
    clock[0] += 2.9
    assert not limiter.allow("a", 100, 1)  # 300 messages at 100 a second: 3 s
    clock[0] += 0.1
    assert limiter.allow("a", 100, 1)


def test_a_callbacks_rule_may_hold_for_one_api_only() -> None:
    faults = FaultSet()
    faults.replace({"rules": [{"match": "callbacks", "drop": True, "api": "xms"}]})
    assert faults.pick("callbacks", "mms") is None
    rule = faults.pick("callbacks", "xms")
    assert rule is not None and rule.drop
    with pytest.raises(ValueError):
        FaultRule.parse({"match": "callbacks", "drop": True, "api": "sms"})
    with pytest.raises(ValueError):
        FaultRule.parse({"match": "batches", "status": 503, "api": "xms"})
