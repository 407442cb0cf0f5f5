"""Log lines and trace segments carry no phone number and no echo of a request's input."""

import io
import json
import socket
import uuid
from typing import Any

import phonenumbers
import pytest
from aws_lambda_powertools import Logger
from aws_xray_sdk.core.models.facade_segment import FacadeSegment  # type: ignore[import-untyped]
from aws_xray_sdk.core.models.subsegment import Subsegment  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, field_validator

from sinch_gateway.redaction import MessageFreeEmitter, RedactingFormatter, redact


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("to +12025550143 now", "to +1*******43 now"),
        ("to 12025550143", "to +1*******43"),  # without its +
        ("+1 (202) 555-0143", "+1*******43"),
        ("+1-202-555-0143.", "+1*******43."),
        ("tel:+12025550143", "tel:+1*******43"),
        ("[12025550143, 61491570156]", "[+1*******43, +61*******56]"),
        ("'+61 491 570 156'", "'+61*******56'"),
        ("attempt 3 12025550143 4", "attempt 3 +1*******43 4"),  # joined to its neighbours
    ],
)
def test_phone_numbers_are_masked_however_they_are_written(written: str, masked: str) -> None:
    assert redact(written) == masked


@pytest.mark.parametrize(
    "kept",
    [
        str(uuid.UUID("12345678-1234-5678-1234-567812345678")),  # all digits but one
        "f737b253-a638-44a0-aaeb-1a72f033dbd8",
        "01M8F2DVCYYW4H0H222J9Z0ZW6",  # a Sinch batch id (ULID)
        "1-6b09c454-376b76f6ddc6cce867b43874",  # an X-Ray trace id
        "2026-11-27 17:56:36,990+0000",
        "2026-11-27T17:56:36.990Z",
        "arn:aws:lambda:us-east-1:123456789012:function:sinch-gateway-SendFunction",
        "http://127.0.0.1:40487/123456789012/SendQueue",
        "Duration: 925.51 ms, delay 3545551.234 s",
        "Timestamp 1795802197426, ttl 1798394197",
        "order-12025550143",  # glued to a word: part of an id, not a number on its own
        "pydantic 2.13.3, +0000, 12:34:56",
    ],
)
def test_ids_timestamps_and_durations_are_left_alone(kept: str) -> None:
    assert redact(kept) == kept


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@given(st.sampled_from(REGIONS), st.sampled_from(["E164", "INTERNATIONAL"]), st.booleans())
def test_every_countrys_numbers_are_masked(region: str, style: str, plus: bool) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return
    written = phonenumbers.format_number(example, getattr(phonenumbers.PhoneNumberFormat, style))
    if not plus:
        written = written.removeprefix("+")
    digits = f"{example.country_code}{example.national_number}"
    redacted = redact(f"sent to {written}.")
    assert digits not in "".join(c for c in redacted if c.isdigit() or c == " ").replace(" ", "")
    assert f"+{example.country_code}*******" in redacted


class _Body(BaseModel):
    text: str

    @field_validator("text")
    @classmethod
    def _short(cls, value: str) -> str:
        if len(value) > 5:
            raise ValueError("too long")
        return value


def _logged(emit: Any) -> dict[str, Any]:
    stream = io.StringIO()
    logger = Logger(service=f"test-{uuid.uuid4().hex}", stream=stream, logger_formatter=RedactingFormatter())
    emit(logger)
    (line,) = stream.getvalue().splitlines()
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_a_log_record_is_redacted_everywhere_and_stays_json() -> None:
    secret_text = " ".join(["Your code is 4711,", "call", "+12025550143"])  # not in a source line

    def emit(logger: Logger) -> None:
        try:
            _Body(text=secret_text)
        except ValidationError:
            logger.exception(
                "failed for 12025550143",
                extra={"to": "+12025550143", "as_int": 12025550143, "nested": {"numbers": ["+61491570156"]}},
            )

    line = _logged(emit)

    assert line["message"] == "failed for +1*******43"
    assert (line["to"], line["as_int"], line["nested"]) == (
        "+1*******43",
        "+1*******43",
        {"numbers": ["+61*******56"]},
    )
    assert "input_value=<redacted>, input_type=str]" in line["exception"]
    text = json.dumps(line)
    for leaked in ("Your code", "4711", "12025550143", "5550143", "491570156"):
        assert leaked not in text


def test_what_is_not_a_number_is_logged_as_it_is() -> None:
    line = _logged(lambda logger: logger.info("sent", extra={"attempt": 2, "delay_s": 0.53, "ok": True}))

    assert (line["message"], line["attempt"], line["delay_s"], line["ok"]) == ("sent", 2, 0.53, True)


def test_trace_segments_leave_without_exception_messages() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    emitter = MessageFreeEmitter(f"127.0.0.1:{receiver.getsockname()[1]}")
    parent = FacadeSegment("facade", "1-6b09c454-376b76f6ddc6cce867b43874", "d7159271e35e6364", True)
    outer = Subsegment("## handler", "local", parent)
    inner = Subsegment("## method", "local", parent)
    outer.add_subsegment(inner)
    for entity in (inner, outer):
        try:
            raise ValueError("Your code is K4711Q, call +12025550143")
        except ValueError as exc:
            entity.add_exception(exc, [("app.py", 1, "handler", "raise")])
        entity.close()

    try:
        emitter.send_entity(outer)
        sent = receiver.recv(65536).decode()
    finally:
        receiver.close()

    document = json.loads(sent.split("\n", 1)[1])
    assert document["cause"]["exceptions"][0]["type"] == "ValueError"
    assert document["subsegments"][0]["cause"]["exceptions"][0]["type"] == "ValueError"
    # Markers a timestamp or an id in the segment cannot contain (digits alone once matched one).
    assert "K4711Q" not in sent and "+12025550143" not in sent
