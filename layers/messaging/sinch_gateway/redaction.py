"""Redaction for logs and traces: phone numbers masked, echoed input and exception messages dropped.

The code logs ids, statuses and masked numbers only; this is the defence in depth for the line
nobody reviewed (telemetry.py puts it in place for every function).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter  # type: ignore[import-untyped]

# Something that may be a phone number: 7 to 15 digits, with + or not, spaces, dashes, dots or
# parentheses between them. Not when it is part of a longer token: glued to a word by - or .
# before it (ids, versions, host names), or running on into a word, a time or a decimal after it
# (UUIDs, ARNs, timestamps). Whether it really is a number, phonenumbers decides.
_PHONE_LIKE = re.compile(r"(?:(?<![\w+])\+|(?<![\w+])(?<!\w[-.]))\(?\d(?:[ ().-]{0,2}\d){6,14}(?!\w|[-.:]\w)")
# Cheap first look (it starts with a digit, which re searches for fast): 7 digits or separators.
_MAYBE_NUMBER = re.compile(r"\d[\d ().-]{5,}\d")
_DIGIT_RUN = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d+\.\d+")  # a duration or an amount, not 2 groups of a number
# pydantic's ValidationError text repeats the value it refused: "[type=..., input_value='...',
# input_type=str]". The value is whatever a client or a record held: a number, a text.
_PYDANTIC_INPUT = re.compile(r"input_value=.*?, input_type=(\w+)\]$", re.MULTILINE)


@lru_cache(maxsize=4096)  # the same values come back in record after record (dates, ids)
def _is_phone_number(digits: str, with_plus: bool) -> bool:
    import phonenumbers  # already loaded by every function; never on the import path here

    try:
        number = phonenumbers.parse(f"+{digits}", None)
    except phonenumbers.NumberParseException:
        return False
    # Written with its +, a number of a plausible length is taken for one; bare digits must be valid.
    return phonenumbers.is_possible_number(number) if with_plus else phonenumbers.is_valid_number(number)


def _mask_numbers_in(span: str) -> str:
    """Mask each phone number in a run of digit groups (a run may join two numbers, or a number
    and its neighbour: every stretch of whole groups is tried, longest first)."""
    from sinch_gateway.domain.phone import mask

    groups = list(_DIGIT_RUN.finditer(span))
    counts = [0]  # digits in groups[:i]
    for group in groups:
        counts.append(counts[-1] + group.end() - group.start())
    pieces: list[str] = []
    kept_to = first = 0
    while first < len(groups):
        for last in range(len(groups), first, -1):
            if not 7 <= counts[last] - counts[first] <= 15:
                continue
            digits = "".join(g.group() for g in groups[first:last])
            if _is_phone_number(digits, first == 0 and span.startswith("+")):
                start = 0 if first == 0 else groups[first].start()  # with its + and (
                pieces += [span[kept_to:start], mask(digits)]
                kept_to, first = groups[last - 1].end(), last
                break
        else:
            first += 1
    pieces.append(span[kept_to:])
    return "".join(pieces)


def _masked(match: re.Match[str]) -> str:
    span = match.group()
    return span if _DECIMAL.fullmatch(span) else _mask_numbers_in(span)


def redact(text: str) -> str:
    """`text` with every phone number masked and pydantic's echo of its input removed."""
    if _MAYBE_NUMBER.search(text):
        text = _PHONE_LIKE.sub(_masked, text)
    return _PYDANTIC_INPUT.sub(r"input_value=<redacted>, input_type=\1]", text)


# What Powertools and Lambda fill in themselves: never data, and in every record (time is money).
_OWN_KEYS = frozenset(
    {
        "level",
        "location",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
    }
)


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log lines, redacted: message, extra keys, exception text, everything
    but the keys Powertools fills in itself."""

    def serialize(self, log: LogRecord) -> str:
        return super().serialize(
            {key: value if key in _OWN_KEYS else self._redacted(value) for key, value in log.items()}
        )

    def _redacted(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, dict):
            return {key: self._redacted(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [self._redacted(item) for item in value]
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):  # a number logged as an int is a number still
            return value if (masked := redact(str(value))) == str(value) else masked
        return redact(str(self.json_default(value)))


class MessageFreeEmitter(UDPEmitter):  # type: ignore[misc]
    """The X-Ray SDK's emitter, minus exception messages. Capture is off in Tracer, but the SDK
    still records the message of any exception that leaves a subsegment (``cause``), and an
    exception's message may quote what it was given. The type and stack are kept."""

    def send_entity(self, entity: Any) -> None:
        _drop_exception_messages(entity)
        super().send_entity(entity)


def _drop_exception_messages(entity: Any) -> None:
    cause = getattr(entity, "cause", None)
    if isinstance(cause, dict):
        for throwable in cause.get("exceptions", ()):
            vars(throwable).pop("message", None)
    for child in getattr(entity, "subsegments", ()):
        _drop_exception_messages(child)
