"""MMS media: the sample files the simulator serves, and its fetch of `body.url` as Sinch does it."""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

import urllib3

from sinch_gateway.media.preflight import SUPPORTED_CONTENT_TYPES

from .faults import FaultRule

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


_SAMPLES = {
    "sample.jpg": Sample("image/jpeg", _jpeg()),
    "sample.png": Sample("image/png", _png()),
    "sample.gif": Sample("image/gif", _GIF),
    "sample.mp4": Sample("video/mp4", _mp4()),
    "sample.mp3": Sample("audio/mpeg", _mp3()),
    "no-length.jpg": Sample("image/jpeg", _jpeg(), chunked=True),
    "wrong-type.jpg": Sample("application/octet-stream", _jpeg()),
    # Hostile hosts, for the gateway's preflight: a length that is a digit only to Unicode, and
    # an answer that trickles in slower than any deadline.
    "odd-length.jpg": Sample("image/jpeg", _jpeg(), content_length="\u00b2"),
    "slow.jpg": Sample("image/jpeg", _jpeg(), drip_s=1.0),
}
SAMPLE_NAMES = (*_SAMPLES, "too-large.jpg")


def sample(name: str, max_bytes: int) -> Sample | None:
    if name == "too-large.jpg":  # built on demand: it follows the configured limit
        return Sample("image/jpeg", _jpeg(max_bytes + 1024))
    return _SAMPLES.get(name)


class MediaFetcher:
    """Fetches media as Sinch does before an MMS goes out; any problem fails the message (code 414)."""

    def __init__(self, http: urllib3.PoolManager) -> None:
        self._http = http

    def problem(self, url: str, max_bytes: int, fault: FaultRule | None = None) -> str | None:
        """None when the media is fine, else why it is not."""
        timeout = FETCH_TIMEOUT_S
        if fault is not None:
            if fault.delay_ms:
                delay = min(fault.delay_ms / 1000, FETCH_TIMEOUT_S)
                time.sleep(delay)
                timeout -= delay
                if timeout <= 0:
                    return "media fetch timed out (injected delay)"
            if fault.drop_connection:
                return "media host closed the connection (injected)"
            if fault.status is not None:
                return f"media host answered {fault.status} (injected)"
        try:
            resp = self._http.request(
                "GET", url, preload_content=False, redirect=False, retries=False, timeout=timeout
            )
        except urllib3.exceptions.HTTPError as exc:
            return f"media fetch failed: {exc}"
        try:
            return _check(resp, max_bytes)
        finally:
            resp.close()  # the body may be unread (too large): never reuse this connection
            resp.release_conn()


def _check(resp: urllib3.BaseHTTPResponse, max_bytes: int) -> str | None:
    length = resp.headers.get("Content-Length", "")
    size = int(length) if length.isascii() and length.isdigit() else None
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    problems = (
        (resp.status != 200, f"media host answered {resp.status}"),
        ("chunked" in resp.headers.get("Transfer-Encoding", "").lower(), "media is sent chunked"),
        (size is None, "media has no Content-Length"),
        (
            content_type not in SUPPORTED_CONTENT_TYPES,
            f"unsupported media Content-Type {content_type or '(none)'}",
        ),
        (size is not None and size > max_bytes, f"media is {length} bytes, over the {max_bytes} byte limit"),
    )
    problem = next((text for failed, text in problems if failed), None)
    if problem is not None:
        return problem
    try:
        body = resp.read(max_bytes + 1)
    except urllib3.exceptions.HTTPError as exc:
        return f"media download failed: {exc}"
    return None if len(body) == size else "media body does not match its Content-Length"
