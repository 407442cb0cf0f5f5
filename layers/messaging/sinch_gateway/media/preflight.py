"""Preflight of an MMS mediaUrl: is it safe to fetch, will Sinch accept what it
serves, and what exactly does it serve?

The media is fetched once, here, and kept (usecases.media): Sinch gets a link to those bytes, never
the caller's URL, so a host cannot show the check one file and Sinch another, nor redirect Sinch
somewhere internal. A bad URL is a 422 now rather than a failed MMS later. The fetch is an SSRF
risk: every hop is resolved once, checked, and connected to by that checked address (never by name
again), so DNS rebinding cannot slip past; only the scheme's standard port is used, and every way a
host can fail to answer gives the same one reason, so the preflight cannot map ports or services.

One absolute deadline covers all media of one request (preflight_all: every file, checked at most
`parallel` at a time), and a shorter one each lookup and each request: the lookup (getaddrinfo has
no timeout, so it runs on a thread that is abandoned when its time is up), the connect, the TLS
handshake and every read of the answer, head and body. urllib3's timeouts are per socket operation
(a host dripping a byte a second never trips them), so the exchange is written on socket, ssl and
http.client, each read given only the time that is left. A file still unchecked when the request's
deadline passes is refused as out of time; the caller has waited the budget, never more.
"""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from aws_lambda_powertools import Logger

from sinch_gateway.domain.errors import InvalidRequest, MediaUnavailable

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from sinch_gateway.config import SenderSettings

logger = Logger(child=True)

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
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Answers that say "not now" rather than "no": a later try may pass.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A host name after IDNA: letters, digits, "-", "_" and dots. "%", spaces or NUL are no host name.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
# What may stay as it is in a request target; anything else (space, controls, non-ASCII) is escaped.
_TARGET_SAFE = "!$&'()*+,;=:@/?%[]"
_URL_SAFE = _TARGET_SAFE + "#"
_DECIMAL = re.compile(r"[0-9]+")  # ASCII digits only: int() would also take "٣" (and "²" breaks it)
# A stated size is read up to an exabyte; anything longer is simply "more" (int() refuses 4300 digits).
_MAX_SIZE_DIGITS = 18
_MAX_STATED_SIZE = 10**_MAX_SIZE_DIGITS
_OBS_FOLD = re.compile(r"\r?\n[ \t]*")
_BAD_LOCATION = re.compile(r"[\x00-\x1f\x7f\\]")  # parsers disagree on what these mean
_MAX_HEAD_BYTES = 65_536  # the status line and headers
# Names neither the product nor a version of it; some hosts refuse a request with no User-Agent.
USER_AGENT = "Mozilla/5.0 (compatible)"
# DNS failure, refused, timed out, TLS failure, garbage: one answer, or the preflight maps networks.
_UNREACHABLE = "could not be reached"
# What talking to a host can raise (ssl.SSLError and TimeoutError are OSErrors; http.client's parse
# errors are HTTPExceptions; a request that cannot be encoded is a ValueError): all of it is unreachable.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)
# All media of one request are fetched within this. It runs inside SendFunction's 15 s, which must
# still keep the media and call Sinch (up to 7 s) after it.
MEDIA_BUDGET_S = 5.0
_NO_LENGTH = "has no Content-Length (chunked transfer is not accepted by Sinch)"
_DETAIL = "The media URL cannot be used for an MMS."


@dataclass(frozen=True)
class MediaPolicy:
    allow_http: bool
    # "host:port" (IPv6 as "[::1]:port") allowed to be private/loopback and on any port: the local
    # stack's simulator.
    allowed_private_hosts: frozenset[str] = frozenset()
    max_bytes: int = 1_048_576
    timeout_s: float = 3.0  # each lookup; each request, from connect to the answer's last byte
    max_redirects: int = 3
    # One deadline for all media of one request (preflight_all: every file, lookup, hop and
    # address; one URL for preflight, one POST for post).
    total_timeout_s: float = MEDIA_BUDGET_S
    # Files of one request fetched at once: each holds a thread, a connection and up to max_bytes
    # (a request has at most 8 slides of 3 files: 24 MiB of bodies, held until they are kept).
    parallel: int = 8

    def __post_init__(self) -> None:
        normalised = frozenset(h.strip().lower() for h in self.allowed_private_hosts if h.strip())
        object.__setattr__(self, "allowed_private_hosts", normalised)

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


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str  # ASCII, lower case, IPv6 without brackets
    port: int
    host_header: str
    request_target: str  # ASCII, escaped

    @property
    def allowlist_key(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def allowed_by(self, hosts: frozenset[str]) -> bool:
        """In the allowlist as host:port, or as host:* (any port: the local stack's callback
        receivers) unless excluded as !host:port (the local stack's own services on that host)."""
        key = self.allowlist_key
        if f"!{key}" in hosts:
            return False
        return key in hosts or key.rsplit(":", 1)[0] + ":*" in hosts


@dataclass(frozen=True)
class _Body:
    """What a POST carries: the content and its headers (ASCII, ours, never a caller's)."""

    content: bytes
    headers: Mapping[str, str]

    def header_lines(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.headers.items()] + [f"Content-Length: {len(self.content)}"]


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    media: MediaInfo | None = None  # a 200 that passed every check, with its whole body


class _Refused(Exception):
    """One check failed; the message completes "mediaUrl ...". `transient`: a later try may pass."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def _unreachable() -> _Refused:
    return _Refused(_UNREACHABLE, transient=True)


class _NotConnected(Exception):
    """Connecting to one address failed: the next address may be tried."""


def is_public_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True only for a globally routable unicast address; anything internal or special is refused."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        # Packets to a mapped or NAT64 address go to the IPv4 address inside: judge that one alone.
        embedded = ip.ipv4_mapped
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        tunnelled = [*([] if ip.sixtofour is None else [ip.sixtofour]), *(ip.teredo or ())]
        if not all(is_public_address(v4) for v4 in tunnelled) or ip.is_site_local:
            return False
    elif ip in _CGNAT:  # not in every Python's is_global
        return False
    # is_global alone differs between Python versions (multicast, reserved): spell every class out.
    return ip.is_global and not (
        ip.is_private
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


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
    current = url
    for hop in range(policy.max_redirects + 1):
        try:
            target = _target(current, policy)
            addresses = _addresses(target, policy, deadline)
            answer = _request(target, addresses, policy, deadline)
        except _Refused as refused:
            message = str(refused) if hop == 0 else f"redirects to a URL that {refused}"
            raise _invalid(message, transient=refused.transient) from None
        if answer.media is not None:
            return answer.media
        if answer.status not in REDIRECT_STATUSES:
            transient = answer.status >= 500 or answer.status in _TRANSIENT_STATUSES
            raise _invalid(f"answered HTTP {answer.status}", transient=transient)
        current = _location(target.url, answer)
    raise _invalid(f"redirects more than {policy.max_redirects} times")


def _invalid(message: str, *, transient: bool = False) -> InvalidRequest:
    kind = MediaUnavailable if transient else InvalidRequest
    return kind(_DETAIL, errors=[("mediaUrl", message)])


def _target(url: str, policy: MediaPolicy) -> _Target:
    """Rule 1 and a well-formed URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise _Refused("is not a valid URL (host or port)") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_http):
        raise _Refused("must use https")
    if "@" in parts.netloc:  # also catches "a\\@b" tricks that parsers disagree on
        raise _Refused("must not contain a user name or password")
    host = _ascii_host(parts.hostname or "")
    if port == 0:
        raise _Refused("is not a valid URL (host or port)")
    bracketed = f"[{host}]" if ":" in host else host
    netloc = bracketed if port is None else f"{bracketed}:{port}"
    port = port or _DEFAULT_PORTS[scheme]
    try:
        request_target = quote(
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=_TARGET_SAFE
        )
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 to escape
        raise _Refused("is not a valid URL (path)") from None
    return _Target(
        url=urlunsplit((scheme, netloc, parts.path, parts.query, "")),  # the host as it is looked up
        scheme=scheme,
        host=host,
        port=port,
        host_header=bracketed if port == _DEFAULT_PORTS[scheme] else f"{bracketed}:{port}",
        request_target=request_target,
    )


def _ascii_host(host: str) -> str:
    if not host:
        raise _Refused("has no host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
            raise _Refused("is not a valid URL (host or port)")  # a zone names one of our interfaces
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()  # what DNS, SNI and Host need
    except UnicodeError:
        raise _Refused("is not a valid URL (host or port)") from None
    if len(ascii_host) > 254 or not _HOST_NAME.fullmatch(ascii_host):
        raise _Refused("is not a valid URL (host or port)")
    return ascii_host


def _addresses(target: _Target, policy: MediaPolicy, deadline: float) -> list[str]:
    """Rule 2: the addresses to connect to, every one of them allowed, on the scheme's port."""
    addresses = _resolve(target.host, target.port, min(deadline, time.monotonic() + policy.timeout_s))
    if target.allowed_by(policy.allowed_private_hosts):
        return addresses
    # One bad address refuses the lot: the resolver may hand out another one on the next lookup.
    if not all(is_public_address(address) for address in addresses):
        raise _Refused("resolves to a forbidden address (private, loopback, link-local or reserved)")
    standard = _DEFAULT_PORTS[target.scheme]
    if target.port != standard:
        raise _Refused(f"must use the standard port ({standard} for {target.scheme})")
    return addresses


def _resolve(host: str, port: int, until: float) -> list[str]:
    """The host's addresses; getaddrinfo cannot be interrupted, so it is left behind at `until`."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]
    found: list[str] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            families = (socket.AF_INET, socket.AF_INET6)
            found.extend(dict.fromkeys(str(info[4][0]) for info in infos if info[0] in families))
        except (OSError, UnicodeError, ValueError) as failure:
            logger.info("media host name did not resolve", extra={"cause": repr(failure)[:200]})
        finally:
            done.set()

    left = until - time.monotonic()
    if left <= 0:
        raise _unreachable()
    threading.Thread(target=lookup, name="media-preflight-lookup", daemon=True).start()
    if not done.wait(left):
        logger.info("media host name lookup timed out")
        raise _unreachable()
    if not found:
        raise _unreachable()
    return list(found)


def _request(
    target: _Target, addresses: list[str], policy: MediaPolicy, deadline: float, *, body: _Body | None = None
) -> _Answer:
    """Rule 3: connect to a checked address; the next one only when connecting failed."""
    cause: BaseException | None = None
    exchange = _exchange if body is None else functools.partial(_exchange, body=body)
    for address in addresses:
        until = min(deadline, time.monotonic() + policy.timeout_s)
        try:
            return exchange(target, address, policy, until)
        except _NotConnected as failure:
            cause = failure.__cause__
        except _NETWORK_ERRORS as failure:
            cause = failure
            break
    # The cause is for us; the client gets one reason, whatever it was.
    logger.info("media host could not be reached", extra={"cause": repr(cause)[:200]})
    raise _unreachable()


def _exchange(
    target: _Target, address: str, policy: MediaPolicy, until: float, *, body: _Body | None = None
) -> _Answer:
    """One GET to `address` (the name kept for Host, SNI and the certificate), done by `until`: the
    answer's head, and the whole body of a 200 that passes the checks (rule 4). With a `body`, a
    POST of it instead, and only the answer's head."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(_left(until))
        try:
            sock.connect((address, target.port))
        except OSError as failure:
            raise _NotConnected from failure
        if target.scheme == "http":
            return _converse(sock, target, policy, until, body)
        context = ssl.create_default_context()  # here, not at import: it reads SSL_CERT_FILE
        with context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False) as tls:
            tls.settimeout(_left(until))  # the handshake as a whole, not each read of it
            tls.do_handshake()
            return _converse(tls, target, policy, until, body)


def _converse(
    sock: socket.socket, target: _Target, policy: MediaPolicy, until: float, body: _Body | None = None
) -> _Answer:
    lines = [
        f"{'GET' if body is None else 'POST'} {target.request_target} HTTP/1.1",
        f"Host: {target.host_header}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Accept-Encoding: identity",  # a compressed answer would hide the real Content-Length
        "Connection: close",
        *(body.header_lines() if body is not None else []),
    ]
    sock.settimeout(_left(until))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body.content if body else b""))
    reader = _DeadlineReader(sock, until)
    stream = io.BufferedReader(reader)
    answer = _read_answer(stream)
    if body is not None or answer.status != 200:
        # A redirect to follow, a refusal, or a POST's answer: its body is never read.
        return answer
    content_type, size = _judge(answer, policy)  # before a byte of the body is read
    reader.allow(size)
    media = stream.read(size)  # the reader raises at an early end: exactly `size` bytes, or an error
    return _Answer(answer.status, answer.headers, MediaInfo(target.url, content_type, media))


def _left(until: float) -> float:
    left = until - time.monotonic()
    if left <= 0:
        raise TimeoutError("the preflight's time is up")
    return left


class _DeadlineReader(io.RawIOBase):
    """A socket as a stream for the answer: every read waits only for what is left of the time,
    reads stop at _MAX_HEAD_BYTES (plus the body's size once it is allowed), and the end of the
    stream is an error (http.client would take a head cut short for a whole one; a whole head ends
    with a blank line before any EOF, and a whole body has its Content-Length)."""

    def __init__(self, sock: socket.socket, until: float) -> None:
        super().__init__()
        self._sock = sock
        self._until = until
        self._allowance = _MAX_HEAD_BYTES

    def readable(self) -> bool:
        return True

    def allow(self, size: int) -> None:
        """Read on past the head: up to the body's `size` bytes more."""
        self._allowance += size

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._allowance <= 0:
            raise http.client.HTTPException("the answer's head is too long")
        self._sock.settimeout(_left(self._until))
        received = self._sock.recv_into(memoryview(buffer)[: self._allowance])
        if not received:
            raise http.client.RemoteDisconnected("the host closed the connection before its answer ended")
        self._allowance -= received
        return received


class _Borrowed:
    """The stream as http.client.HTTPResponse sees it: it reads the head, and closing it (which a
    collected HTTPResponse does) leaves the stream open for the body."""

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self._stream = stream

    def readline(self, limit: int = -1) -> bytes:
        return self._stream.readline(limit)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def close(self) -> None:
        """The stream belongs to the exchange, which reads the body from it."""


class _Source:
    """What http.client.HTTPResponse reads from: the same buffered stream every time it asks."""

    def __init__(self, stream: io.BufferedIOBase) -> None:
        self._stream = stream

    def makefile(self, mode: str) -> _Borrowed:
        return _Borrowed(self._stream)


def _read_answer(stream: io.BufferedIOBase) -> _Answer:
    """The status and headers at the start of `stream`; raises one of _NETWORK_ERRORS if they are not
    a clean HTTP/1.x answer."""
    source = cast(socket.socket, _Source(stream))  # HTTPResponse only calls makefile("rb")
    # Interim answers (103 Early Hints...) come before the real one.
    while True:
        response = http.client.HTTPResponse(source, method="GET")
        response.begin()
        if not 100 <= response.status < 200:
            break
    message = response.msg
    # A line that is no header ends the headers early (the rest lands in the payload): the answer
    # would be read with headers missing, so it is no answer. A multipart type's defects are harmless.
    multipart = message.get_content_maintype() == "multipart"
    if message.get_payload() or (message.defects and not multipart):
        raise http.client.HTTPException("the answer's headers do not parse")
    headers: dict[str, str] = {}
    for name, value in message.items():
        key, text = name.lower(), _OBS_FOLD.sub(" ", str(value)).strip(" \t")
        # repeated headers are joined ("5, 6"), so two Content-Lengths make no valid one
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return _Answer(response.status, headers)


def _location(url: str, answer: _Answer) -> str:
    """The URL a redirect points to, resolved against the one that answered."""
    location = answer.headers.get("location", "").strip(" \t")
    if not location:
        raise _invalid(f"answered HTTP {answer.status} without a Location")
    invalid = _invalid(f"answered HTTP {answer.status} with an invalid Location")
    if _BAD_LOCATION.search(location):
        raise invalid
    try:
        # http.client read the header's bytes as Latin-1: escape those bytes, not a mis-decoding of them
        return urljoin(url, quote(location.encode("latin-1"), safe=_URL_SAFE))
    except ValueError:  # not Latin-1 (so not from the wire), or a host part urllib cannot split
        raise invalid from None


def _judge(answer: _Answer, policy: MediaPolicy) -> tuple[str, int]:
    """Rule 5 on the head of a 200: the content type and size to read, or InvalidRequest."""
    headers = answer.headers
    content_type = headers.get("content-type", "").split(";")[0].strip(" \t").lower()
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


# --- The same rules for a URL the gateway POSTs to (status callbacks) -------------------------------


class Unreachable(Exception):
    """A POST got no HTTP answer (or its URL now breaks rules 1-3); the message says which."""


def check_address(url: str, policy: MediaPolicy, field: str) -> None:
    """Rules 1 and 2 alone (no request is made): raises InvalidRequest on `field`."""
    try:
        target = _target(url, policy)
        _addresses(target, policy, time.monotonic() + policy.total_timeout_s)
    except _Refused as refused:
        raise InvalidRequest(f"The {field} cannot be used.", errors=[(field, str(refused))]) from None


def post(url: str, policy: MediaPolicy, content: bytes, headers: Mapping[str, str]) -> int:
    """POST `content` to `url` under rules 1-3 and the policy's deadlines, and return the answer's
    status. Only the answer's head is read (at most _MAX_HEAD_BYTES): the body never is, and a
    redirect is not followed (it is just its status)."""
    deadline = time.monotonic() + policy.total_timeout_s
    try:
        target = _target(url, policy)
        addresses = _addresses(target, policy, deadline)
        answer = _request(target, addresses, policy, deadline, body=_Body(content, headers))
    except _Refused as refused:
        raise Unreachable(f"the URL {refused}") from None
    return answer.status
