"""Preflight of an MMS mediaUrl: will Sinch accept what it serves, and what exactly does it serve?

The media is fetched once, here, and kept (usecases.media): Sinch gets a link to those bytes, never
the caller's URL, so a host cannot show the check one file and Sinch another, nor redirect Sinch
somewhere internal. A bad URL is a 422 now rather than a failed MMS later. The fetch goes through
the guarded client (outbound): public addresses only, every hop checked, one deadline; the head of
its answer is judged here before a byte of the body is read.

One absolute deadline covers all media of one request (preflight_all: every file, checked at most
`parallel` at a time), and a shorter one each lookup and each request. A file still unchecked when
the request's deadline passes is refused as out of time; the caller has waited the budget, never
more.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sinch_gateway.domain.errors import InvalidRequest, MediaUnavailable
from sinch_gateway.outbound.addresses import OutboundPolicy, Refused
from sinch_gateway.outbound.client import Answer, get

if TYPE_CHECKING:
    from sinch_gateway.config import SenderSettings


# What Sinch accepts for MMS, by the MMS JSON API's slide types
# (https://developers.sinch.com/docs/mms/api-reference/mms); application/octet-stream may be
# refused there, so it is refused here.
SUPPORTED_CONTENT_TYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/png",
        "image/gif",
        "audio/mpeg",
        "audio/mp3",
        "audio/wav",
        "audio/x-wav",
        "audio/amr",
        "video/mp4",
        "video/mpeg",
        "video/3gpp",
        "video/quicktime",
        "video/x-msvideo",
        "video/x-ms-wmv",
        "text/vcard",
        "text/x-vcard",
        "text/calendar",
        "application/pdf",
        "text/plain",  # listed in Sinch's MMS best practices for XMS
    }
)
# Answers that say "not now" rather than "no": a later try may pass.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_DECIMAL = re.compile(r"[0-9]+")  # ASCII digits only: int() would also take "٣" (and "²" breaks it)
# A stated size is read up to an exabyte; anything longer is simply "more" (int() refuses 4300 digits).
_MAX_SIZE_DIGITS = 18
_MAX_STATED_SIZE = 10**_MAX_SIZE_DIGITS
# All media of one request are fetched within this. It runs inside SendFunction's 15 s, which must
# still keep the media and call Sinch (up to 7 s) after it.
MEDIA_BUDGET_S = 5.0
_NO_LENGTH = "has no Content-Length (chunked transfer is not accepted by Sinch)"
_DETAIL = "The media URL cannot be used for an MMS."


@dataclass(frozen=True)
class MediaPolicy(OutboundPolicy):
    """The guarded client's rules and deadlines for fetching media, and the media's own limits."""

    max_bytes: int = 1_048_576
    # One deadline for all media of one request (preflight_all: every file, lookup, hop and
    # address; one URL for preflight).
    total_timeout_s: float = MEDIA_BUDGET_S
    # Files of one request fetched at once: each holds a thread, a connection and up to max_bytes
    # (a request has at most 8 slides of 3 files: 24 MiB of bodies, held until they are kept).
    parallel: int = 8

    @classmethod
    def from_settings(cls, settings: SenderSettings) -> MediaPolicy:
        return cls(
            allow_http=settings.allow_http_media,
            allowed_private_hosts=settings.media_allowed_private_hosts,
            max_bytes=settings.media_max_bytes,
        )


@dataclass(frozen=True)
class MediaInfo:
    url: str  # after redirects: where the bytes came from
    content_type: str
    body: bytes = field(repr=False)  # exactly the checked bytes: what Sinch will be given

    @property
    def content_length(self) -> int:
        return len(self.body)


def preflight_all(urls: Sequence[str], policy: MediaPolicy) -> list[MediaInfo | InvalidRequest]:
    """Every URL of one request checked as `preflight` checks one, at most `policy.parallel` at a
    time, all by one deadline (`policy.total_timeout_s` from now): whatever their number, the caller
    waits the budget at most. Each URL's MediaInfo, or the InvalidRequest saying why not, in order."""
    deadline = time.monotonic() + policy.total_timeout_s

    def check(url: str) -> MediaInfo | InvalidRequest:
        try:
            return preflight(url, policy, deadline)
        except InvalidRequest as refused:
            return refused

    if len(urls) <= 1:
        return [check(url) for url in urls]
    # Every check ends by the deadline (each read is given only the time left), so leaving the
    # pool waits no longer than that; an abandoned lookup is a thread of its own.
    workers = min(len(urls), policy.parallel)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media-preflight") as pool:
        return list(pool.map(check, urls))


def preflight(url: str, policy: MediaPolicy, deadline: float | None = None) -> MediaInfo:
    """Check `url` (https, a public address, a 200 with a supported Content-Type and a
    Content-Length within the limit) by `deadline` (`policy.total_timeout_s` from now when not
    given); raises InvalidRequest naming the check that failed, MediaUnavailable when a later try
    may pass (unreachable, a 5xx, or out of time)."""
    if deadline is None:
        deadline = time.monotonic() + policy.total_timeout_s
    try:
        return _preflight(url, policy, deadline)
    except MediaUnavailable:
        if time.monotonic() < deadline:
            raise
        # Cut off by the request's deadline, not by anything the host did within its own time.
        within = f"{policy.total_timeout_s:g} seconds"
        raise _invalid(
            f"could not be fetched in time: all media of a request must be fetched within {within}",
            transient=True,
        ) from None


def _preflight(url: str, policy: MediaPolicy, deadline: float) -> MediaInfo:
    try:
        final_url, answer = get(url, policy, deadline, lambda head: _judge(head, policy)[1])
    except Refused as refused:
        raise _invalid(str(refused), transient=refused.transient) from None
    if answer.status != 200:
        transient = answer.status >= 500 or answer.status in _TRANSIENT_STATUSES
        raise _invalid(f"answered HTTP {answer.status}", transient=transient)
    return MediaInfo(final_url, _content_type(answer.headers), answer.body)


def _invalid(message: str, *, transient: bool = False) -> InvalidRequest:
    kind = MediaUnavailable if transient else InvalidRequest
    return kind(_DETAIL, errors=[("mediaUrl", message)])


def _judge(answer: Answer, policy: MediaPolicy) -> tuple[str, int]:
    """The media's own rule, on the head of a 200 (after the guarded client's): the content type
    and size to read, or InvalidRequest."""
    headers = answer.headers
    content_type = _content_type(headers)
    if not content_type:
        raise _invalid("has no Content-Type")
    if content_type not in SUPPORTED_CONTENT_TYPES:
        raise _invalid(f"has an unsupported Content-Type {_printable(content_type[:100])}")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _invalid(_NO_LENGTH)
    encoding = headers.get("content-encoding", "identity").strip(" \t").lower()
    if encoding not in ("", "identity"):
        # The bytes would be kept and served compressed under the type of what is inside them.
        raise _invalid(f"is sent compressed (Content-Encoding {_printable(encoding[:50])})")
    size = _size(headers)
    if size is None:
        raise _invalid(_NO_LENGTH)
    if size == 0:
        raise _invalid("is empty (Content-Length 0)")
    if size > policy.max_bytes:
        stated = f"more than {size - 1}" if size == _MAX_STATED_SIZE else str(size)
        raise _invalid(f"is {stated} bytes; the limit is {policy.max_bytes} bytes")
    return content_type, size


def _content_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip(" \t").lower()


def _size(headers: Mapping[str, str]) -> int | None:
    """The size the answer states: one number of ASCII digits (no sign, no list), else None."""
    value = headers.get("content-length", "").strip(" \t")
    if not _DECIMAL.fullmatch(value):
        return None
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_SIZE_DIGITS else _MAX_STATED_SIZE


def _printable(text: str) -> str:
    """Upstream text as it may appear in our answer: printable ASCII, anything else as "?"."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)
