"""The leak scanner of the end-to-end test finds what it is there to find, and nothing else."""

import json
import secrets
import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.leak_scan import phone_numbers_in, scan, scan_line

TEXT = "Your parcel 88 is out for delivery"
TOKEN = secrets.token_urlsafe(24)
NEEDLES = [("message text", TEXT), ("secret", TOKEN)]


def kinds(line: str) -> list[str]:
    return [leak.kind for leak in scan_line("x.log:1", line, NEEDLES)]


def test_planted_phone_numbers_are_found_however_they_are_written() -> None:
    planted = [
        '{"message": "sent", "to": "+12025550143"}',
        '{"message": "sent", "to": 12025550143}',  # a JSON integer
        '{"message": "sent to 12025550143"}',  # without its +
        "[ERROR] ValueError: invalid recipient +1 (202) 555-0143",
        "order-61491570156 failed",  # glued to a word
        '{"cause": {"exceptions": [{"message": "no route to +61 491 570 156"}]}}',
        "retry 3 12025550143 in 2 s",
    ]
    for line in planted:
        assert kinds(line) == ["phone number"], line


def test_planted_texts_and_secrets_are_found_as_written_and_as_json_escapes_them() -> None:
    assert kinds(json.dumps({"message": "x", "body": TEXT})) == ["message text"]
    assert kinds(f"Authorization: Bearer {TOKEN}") == ["secret"]
    unicode_text = "Vielen Dank für Ihre Bestellung"
    escaped = json.dumps({"message": unicode_text})  # as the X-Ray SDK writes it: \\u00fc
    assert [leak.kind for leak in scan_line("t", escaped, [("message text", unicode_text)])] == [
        "message text"
    ]


def test_a_reported_secret_is_not_repeated_in_full() -> None:
    (leak,) = scan_line("x.log:1", f"token={TOKEN}", NEEDLES)
    assert TOKEN not in str(leak)


def test_what_is_not_a_phone_number_is_not_reported() -> None:
    clean = [
        '{"level":"INFO","message":"message accepted","timestamp":"2026-11-27 17:56:36,990+0000",'
        '"function_arn":"arn:aws:lambda:us-east-1:123456789012:function:sinch-gateway-local-SendFunction",'
        '"function_request_id":"77cf2d33-ff94-4140-a122-425f818c54b8","to":"+1*******43",'
        '"batch_id":"01M8F2DVCYYW4H0H222J9Z0ZW6","xray_trace_id":"1-6b09c454-376b76f6ddc6cce867b43874"}',
        '{"_aws":{"Timestamp":1795802197426},"ttl":1798394197}',
        '{"start_time": 1795802196.6831514, "end_time": 1795802197.2901234, "id": "7c9572c318cfdf6a"}',
        "REPORT RequestId: 77cf2d33-ff94-4140-a122-425f818c54b8\tDuration: 925.51 ms\t"
        "Billed Duration: 926 ms\tMemory Size: 512 MB\tMax Memory Used: 128 MB\tInit Duration: 1798.79 ms",
        '{"url": "http://127.0.0.1:36879/123456789012/sinch-gateway-local-SendQueue"}',
        '{"request_id": "P53JPnD8abd9OOBeusFYpoKTOpH6EOa6yZgmolUTUNLTzRd7uRFL"}',
    ]
    for line in clean:
        assert kinds(line) == [], line


@settings(max_examples=300)
@given(st.uuids(), st.binary(min_size=16, max_size=16), st.integers(0, 2**32 - 1))
def test_random_ids_are_never_taken_for_numbers(an_uuid: uuid.UUID, raw: bytes, seconds: int) -> None:
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    ulid = "".join(crockford[b % 32] for b in (raw + raw)[:26])
    trace_id = f"1-{seconds:08x}-{raw.hex()[:24]}"
    line = json.dumps({"id": str(an_uuid), "batch": ulid, "trace": trace_id, "segment": raw.hex()[:16]})
    assert list(phone_numbers_in(line)) == []


def test_scan_counts_what_it_read_and_names_where_it_found_a_leak(tmp_path: Path) -> None:
    log = tmp_path / "SendFunction.log"
    log.write_text('{"message": "ok"}\n\n{"message": "to +12025550143"}\n')
    traces = tmp_path / "traces.jsonl"
    traces.write_text(json.dumps({"name": "## handler", "metadata": {"body": TEXT}}) + "\n")

    report = scan([log], [traces], NEEDLES)

    assert (report.files, report.log_lines, report.trace_documents) == (2, 2, 1)
    assert [str(leak) for leak in report.leaks] == [
        "SendFunction.log:3: phone number 12025550143",
        f"traces.jsonl:1: message text {TEXT[:4]}…({len(TEXT)} chars)",
    ]
