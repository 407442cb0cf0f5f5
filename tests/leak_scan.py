"""A scanner for what must never be in a log line or a trace: phone numbers, message texts, secrets.

Deliberately independent of the product's own redaction (``sinch_gateway.redaction``): it finds
numbers its own way, so a gap in one is not hidden by the same gap in the other. It is stricter
where it can afford to be (a number glued to a word by ``-`` or ``.`` still counts) and leaves out
only what it can recognise for sure as something else: ids and timestamps, and JSON floats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers

# Recognised for what they are, and blanked before numbers are looked for.
_NOT_NUMBERS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
    r"|\b1-[0-9a-f]{8}-[0-9a-f]{24}\b"  # X-Ray trace id
    r"|\b[0-9a-f]{16}\b"  # X-Ray segment id
    r"|\b[0-9A-HJKMNP-TV-Z]{26}\b"  # ULID (Sinch batch ids)
    r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"  # timestamp
)
# Digits with the separators people write numbers with; not inside a word (random tokens).
_DIGITS = re.compile(r"(?<!\w)\+?\(?\d(?:[ ().-]{0,2}\d)*(?!\w)")
_DECIMAL = re.compile(r"\d+\.\d+")


@dataclass(frozen=True)
class Leak:
    where: str  # file:line
    kind: str  # "phone number", "message text", "secret"
    found: str  # what matched, shortened so a report does not repeat a secret in full

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.found}"


def _valid_number(digits: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(f"+{digits}", None))
    except phonenumbers.NumberParseException:
        return False


def phone_numbers_in(text: str) -> Iterator[str]:
    """Every valid E.164 number in `text`, with or without its +, as digits: any stretch of
    whole digit groups of a run (so two numbers side by side are both found)."""
    for run in _DIGITS.finditer(_NOT_NUMBERS.sub(" ", text)):
        if _DECIMAL.fullmatch(run.group()):
            continue
        groups = re.findall(r"\d+", run.group())
        for first in range(len(groups)):
            for last in range(first + 1, len(groups) + 1):
                digits = "".join(groups[first:last])
                if 7 <= len(digits) <= 15 and _valid_number(digits):
                    yield digits


def _strings_and_ints(value: Any) -> Iterator[str]:
    """The text a JSON document carries: its strings (keys too) and integers, not its floats
    (timestamps whose digits are noise)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings_and_ints(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_and_ints(item)


def _texts_of_line(line: str) -> Iterator[str]:
    try:
        document = json.loads(line)
    except ValueError:
        yield line  # REPORT lines, tracebacks, anything not JSON: all of it
        return
    yield from _strings_and_ints(document)


def _shortened(value: str) -> str:
    return value if len(value) <= 8 else f"{value[:4]}…({len(value)} chars)"


def scan_line(where: str, line: str, needles: Iterable[tuple[str, str]]) -> list[Leak]:
    """The leaks in one log line or trace document. `needles` are (kind, value) pairs searched
    for as they are and as JSON escapes them."""
    leaks = []
    for text in _texts_of_line(line):
        leaks += [Leak(where, "phone number", digits) for digits in phone_numbers_in(text)]
    for kind, value in needles:
        escaped = json.dumps(value)[1:-1]
        if value in line or escaped in line:
            leaks.append(Leak(where, kind, _shortened(value)))
    return leaks


@dataclass
class ScanReport:
    leaks: list[Leak]
    files: int = 0
    log_lines: int = 0
    trace_documents: int = 0


def scan(
    log_files: Iterable[Path], trace_files: Iterable[Path], needles: list[tuple[str, str]]
) -> ScanReport:
    report = ScanReport(leaks=[])
    for kind, paths in (("log", log_files), ("trace", trace_files)):
        for path in paths:
            report.files += 1
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                if kind == "log":
                    report.log_lines += 1
                else:
                    report.trace_documents += 1
                report.leaks += scan_line(f"{path.name}:{number}", line, needles)
    return report
