"""MMS media: the sample files the simulator serves, and its fetch of media URLs as Sinch does it."""

from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

import urllib3

from .faults import FaultRule
from .recorder import Log

FETCH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Sample:
    content_type: str
    body: bytes
    chunked: bool = False  # sent with Transfer-Encoding: chunked and no Content-Length
    content_length: str | None = None  # sent as the Content-Length header instead of the true one
    drip_s: float = 0.0  # the answer's head comes one byte at a time, this many seconds apart


def _png() -> bytes:
    """A real 1x1 PNG (white pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _jpeg(size: int = 2048) -> bytes:
    """JPEG markers around padding: looks like a JPEG to every check that matters here."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + b"\x00" * max(0, size - len(head) - 2) + b"\xff\xd9"


# The classic 1x1 GIF89a.
_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def _mp4() -> bytes:
    def box(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", 8 + len(data)) + kind + data

    return (
        box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"free", b"") + box(b"mdat", b"\x00" * 1024)
    )


def _mp3() -> bytes:
    """An ID3v2 tag then one silent MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz: 417 bytes)."""
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413


_VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Sample Store\r\nTEL:+12025550100\r\nEND:VCARD\r\n"
_ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//sim//EN\r\nBEGIN:VEVENT\r\nUID:sale@sim\r\n"
    b"DTSTAMP:20260501T100000Z\r\nDTSTART:20260502T100000Z\r\nSUMMARY:Spring sale\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
_NOISE = bytes(range(7, 250)) * 8  # no file format starts like this

_SAMPLES = {
    "sample.jpg": Sample("image/jpeg", _jpeg()),
    "sample.png": Sample("image/png", _png()),
    "sample.gif": Sample("image/gif", _GIF),
    "sample.mp4": Sample("video/mp4", _mp4()),
    "sample.mp3": Sample("audio/mpeg", _mp3()),
    "sample.vcf": Sample("text/vcard", _VCARD),
    "sample.ics": Sample("text/calendar", _ICS),
    "sample.pdf": Sample("application/pdf", _PDF),
    "no-length.jpg": Sample("image/jpeg", _jpeg(), chunked=True),
    "wrong-type.jpg": Sample("application/octet-stream", _jpeg()),
    # Hostile hosts, for the gateway's preflight: a length that is a digit only to Unicode, and
    # an answer that trickles in slower than any deadline.
    "odd-length.jpg": Sample("image/jpeg", _jpeg(), content_length="\u00b2"),
    "slow.jpg": Sample("image/jpeg", _jpeg(), drip_s=1.0),
    # The right type and length, but content no encoder can read (MMS JSON API: fails encoding).
    "corrupt.jpg": Sample("image/jpeg", _NOISE),
    "corrupt.mp3": Sample("audio/mpeg", _NOISE),
    "corrupt.mp4": Sample("video/mp4", _NOISE),
}
_EXTENSIONS = [name.removeprefix("sample.") for name in _SAMPLES if name.startswith("sample.")]
_TOO_LARGE = tuple(f"too-large.{extension}" for extension in _EXTENSIONS)
# A host that changes its answer after the first GET (since the last reset): a JPEG first, then
# another file under the same name and type. What a check saw is not what a later fetch gets.
CHANGING = "changing.jpg"
_CHANGED = Sample("image/jpeg", b"\xff\xd8\xff\xe0" + b"changed after the check " * 64 + b"\xff\xd9")
SAMPLE_NAMES = (*_SAMPLES, *_TOO_LARGE, CHANGING)


def sample(name: str, max_bytes: int, *, served_before: bool = False) -> Sample | None:
    if name in _TOO_LARGE:  # built on demand: they follow the configured limit
        like = _SAMPLES["sample." + name.removeprefix("too-large.")]
        return Sample(like.content_type, like.body + b"\x00" * (max_bytes + 1024 - len(like.body)))
    if name == CHANGING:
        return _CHANGED if served_before else _SAMPLES["sample.jpg"]
    return _SAMPLES.get(name)


class ServedMedia:
    """How many GETs each sample name, and each media URL, has been answered since the last reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def served_before(self, name: str) -> bool:
        """Whether `name` was served before; from now on it has been."""
        return self.times_before(name) > 0

    def times_before(self, key: str) -> int:
        """How many times `key` was asked for before; one more from now on."""
        with self._lock:
            before = self._counts.get(key, 0)
            self._counts[key] = before + 1
            return before

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass(frozen=True)
class HostBehaviour:
    """How the media host answers one URL, from its query: `delay_ms` (the answer starts that late:
    a slow but valid host), `fail_first` and `status` (the first N GETs of the URL since the last
    reset answer that status, then the file: a host that is down, then back)."""

    delay_s: float = 0.0
    fail_first: int = 0
    status: int = 503

    @classmethod
    def from_query(cls, query: dict[str, str]) -> HostBehaviour | None:
        """None when a value is not a number in its range."""
        try:
            delay_ms, fail_first, status = (
                int(query.get(name, default))
                for name, default in (("delay_ms", 0), ("fail_first", 0), ("status", 503))
            )
        except ValueError:
            return None
        if not (0 <= delay_ms <= 60_000 and 0 <= fail_first <= 1000 and 400 <= status <= 599):
            return None
        return cls(delay_ms / 1000, fail_first, status)


class MediaProblem(Enum):
    UNREACHABLE = "unreachable"  # no answer, not 200, chunked, no or a wrong Content-Length
    WRONG_TYPE = "wrong_type"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class Fetched:
    """A media fetch: the file, or the problem and why (for the log)."""

    problem: MediaProblem | None
    detail: str = ""
    content_type: str = ""
    body: bytes = b""


class MediaFetcher:
    """Fetches media as Sinch does before an MMS goes out: GET, one try, no redirects. Each fetch is
    logged (GET /_sim/media-fetches): the URL, and what came back, by size and SHA-256."""

    def __init__(self, http: urllib3.PoolManager, log: Log) -> None:
        self._http = http
        self._log = log

    def fetch(
        self, url: str, max_bytes: int, types: frozenset[str], fault: FaultRule | None = None
    ) -> Fetched:
        fetched = self._fetch(url, max_bytes, types, fault)
        self._log.append(
            {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "url": url,
                "problem": None if fetched.problem is None else fetched.problem.value,
                "detail": fetched.detail,
                "contentType": fetched.content_type,
                "size": len(fetched.body),
                "sha256": hashlib.sha256(fetched.body).hexdigest() if fetched.problem is None else None,
            }
        )
        return fetched

    def _fetch(self, url: str, max_bytes: int, types: frozenset[str], fault: FaultRule | None) -> Fetched:
        timeout = FETCH_TIMEOUT_S
        if fault is not None:
            if fault.delay_ms:
                delay = min(fault.delay_ms / 1000, FETCH_TIMEOUT_S)
                time.sleep(delay)
                timeout -= delay
                if timeout <= 0:
                    return Fetched(MediaProblem.UNREACHABLE, "media fetch timed out (injected delay)")
            if fault.drop_connection:
                return Fetched(MediaProblem.UNREACHABLE, "media host closed the connection (injected)")
            if fault.status is not None:
                return Fetched(MediaProblem.UNREACHABLE, f"media host answered {fault.status} (injected)")
        try:
            resp = self._http.request(
                "GET", url, preload_content=False, redirect=False, retries=False, timeout=timeout
            )
        except urllib3.exceptions.HTTPError as exc:
            return Fetched(MediaProblem.UNREACHABLE, f"media fetch failed: {exc}")
        try:
            return _check(resp, max_bytes, types)
        finally:
            resp.close()  # the body may be unread (too large): never reuse this connection
            resp.release_conn()


def _check(resp: urllib3.BaseHTTPResponse, max_bytes: int, types: frozenset[str]) -> Fetched:
    length = resp.headers.get("Content-Length", "")
    size = int(length) if length.isascii() and length.isdigit() else None
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    unreachable, wrong_type, too_large = MediaProblem
    chunked = "chunked" in resp.headers.get("Transfer-Encoding", "").lower()
    problems = (
        (resp.status != 200, unreachable, f"media host answered {resp.status}"),
        (chunked, unreachable, "media is sent chunked"),
        (size is None, unreachable, "media has no Content-Length"),
        (content_type not in types, wrong_type, f"unsupported media Content-Type {content_type or '(none)'}"),
        (
            size is not None and size > max_bytes,
            too_large,
            f"media is {length} bytes, over the {max_bytes} byte limit",
        ),
    )
    found = next(((problem, text) for failed, problem, text in problems if failed), None)
    if found is not None:
        return Fetched(*found, content_type=content_type)
    try:
        body = resp.read(max_bytes + 1)
    except urllib3.exceptions.HTTPError as exc:
        return Fetched(unreachable, f"media download failed: {exc}", content_type)
    if len(body) != size:
        return Fetched(unreachable, "media body does not match its Content-Length", content_type)
    return Fetched(None, content_type=content_type, body=body)
