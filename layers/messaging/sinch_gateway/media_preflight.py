"""Preflight of an MMS mediaUrl (design.md §4): is it safe to fetch, and will Sinch accept what it serves?

Sinch GETs the media itself; we only look at the answer's head, so a bad URL is a 422 now rather
than a failed MMS later. The fetch is also an SSRF risk: every hop is resolved once, checked, and
connected to by that checked address (never by name again), so DNS rebinding cannot slip past.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError, SSLError

from sinch_gateway.errors import InvalidRequest

if TYPE_CHECKING:
    from sinch_gateway.config import Settings

# What Sinch accepts for MMS (sinch-api.md §5, §6.2); application/octet-stream is refused.
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
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CONTENT_RANGE = re.compile(r"bytes\s+\d+-\d+/(\d+)", re.IGNORECASE)
_NO_LENGTH = "has no Content-Length (chunked transfer is not accepted by Sinch)"
_DETAIL = "The media URL cannot be used for an MMS."


@dataclass(frozen=True)
class MediaPolicy:
    allow_http: bool
    # "host:port" (IPv6 as "[::1]:port") allowed to be private/loopback: the local stack's simulator.
    allowed_private_hosts: frozenset[str] = frozenset()
    max_bytes: int = 1_048_576
    timeout_s: float = 3.0  # connect and read, each request
    max_redirects: int = 3
    # The whole preflight (every hop and address): it runs inside a 15 s Lambda behind API Gateway.
    total_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        normalised = frozenset(h.strip().lower() for h in self.allowed_private_hosts if h.strip())
        object.__setattr__(self, "allowed_private_hosts", normalised)

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaPolicy:
        return cls(
            allow_http=settings.allow_http_media,
            allowed_private_hosts=settings.media_allowed_private_hosts,
            max_bytes=settings.media_max_bytes,
        )


@dataclass(frozen=True)
class MediaInfo:
    url: str  # after redirects: what Sinch will end up fetching
    content_type: str
    content_length: int


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str  # ASCII, lower case, IPv6 without brackets
    port: int
    host_header: str
    request_target: str

    @property
    def allowlist_key(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    ranged: bool = False  # the answer to GET with Range: bytes=0-0


class _Refused(Exception):
    """One check failed; the message completes "mediaUrl ..."."""


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


def check_message_media(media_url: object | None, settings: Settings) -> None:
    """The preflight for a message's media under the deployment's policy; nothing for an SMS."""
    if media_url is not None:
        preflight(str(media_url), MediaPolicy.from_settings(settings))


def preflight(url: str, policy: MediaPolicy) -> MediaInfo:
    """Check `url` as design.md §4 asks; raises InvalidRequest naming the check that failed."""
    deadline = time.monotonic() + policy.total_timeout_s
    current = url
    for hop in range(policy.max_redirects + 1):
        try:
            target = _target(current, policy)
            addresses = _addresses(target, policy)
            answer = _ask(target, addresses, policy, deadline)
        except _Refused as refused:
            raise _invalid(str(refused) if hop == 0 else f"redirects to a URL that {refused}") from None
        if answer.status not in REDIRECT_STATUSES:
            return _judge(target.url, answer, policy)
        location = answer.headers.get("location", "").strip()
        if not location:
            raise _invalid(f"answered HTTP {answer.status} without a Location")
        current = urljoin(target.url, location)
    raise _invalid(f"redirects more than {policy.max_redirects} times")


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(_DETAIL, errors=[("mediaUrl", message)])


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
    return _Target(
        url=urlunsplit((scheme, netloc, parts.path, parts.query, "")),  # the host as it is looked up
        scheme=scheme,
        host=host,
        port=port,
        host_header=bracketed if port == _DEFAULT_PORTS[scheme] else f"{bracketed}:{port}",
        request_target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
    )


def _ascii_host(host: str) -> str:
    if not host:
        raise _Refused("has no host")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        return host.encode("idna").decode("ascii").lower()  # what DNS, SNI and Host need
    except UnicodeError:
        raise _Refused("is not a valid URL (host or port)") from None


def _addresses(target: _Target, policy: MediaPolicy) -> list[str]:
    """Rule 2: the addresses to connect to, every one of them allowed."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _Refused("could not be reached (its host name does not resolve)") from None
    families = (socket.AF_INET, socket.AF_INET6)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos if info[0] in families))
    if not addresses:
        raise _Refused("could not be reached (its host name does not resolve)")
    if target.allowlist_key in policy.allowed_private_hosts:
        return addresses
    # One bad address refuses the lot: the resolver may hand out another one on the next lookup.
    if not all(is_public_address(address) for address in addresses):
        raise _Refused("resolves to a forbidden address (private, loopback, link-local or reserved)")
    return addresses


def _ask(target: _Target, addresses: list[str], policy: MediaPolicy, deadline: float) -> _Answer:
    """Rule 4: HEAD, or a one-byte GET when HEAD is not supported."""
    answer = _request(target, addresses, "HEAD", policy, deadline)
    if answer.status in (405, 501):
        answer = _request(target, addresses, "GET", policy, deadline)
    return answer


def _request(
    target: _Target, addresses: list[str], method: str, policy: MediaPolicy, deadline: float
) -> _Answer:
    """Rule 3: connect to a checked address; the next one only when connecting failed."""
    reason = "connection failed"
    for address in addresses:
        budget = min(policy.timeout_s, deadline - time.monotonic())
        if budget <= 0:
            raise _Refused("could not be reached (timed out)")
        try:
            return _exchange(target, address, method, budget)
        except NewConnectionError:  # (a subclass of ConnectTimeoutError: test it first)
            reason = "connection failed"
        except ConnectTimeoutError:
            reason = "timed out"
        except SSLError:
            raise _Refused("could not be reached (TLS handshake or certificate check failed)") from None
        except ReadTimeoutError:
            raise _Refused("could not be reached (timed out)") from None
        except HTTPError:
            raise _Refused("could not be reached (no valid HTTP answer)") from None
    raise _Refused(f"could not be reached ({reason})")


def _exchange(target: _Target, address: str, method: str, timeout_s: float) -> _Answer:
    """One request to `address`, the name kept for Host, SNI and certificate checks; no body read."""
    timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)
    headers = {
        "Host": target.host_header,
        "User-Agent": "sinch-gateway-media-preflight/1",
        "Accept": "*/*",
        "Accept-Encoding": "identity",  # a compressed answer would hide the real Content-Length
    }
    ranged = method == "GET"
    if ranged:
        headers["Range"] = "bytes=0-0"
    try:
        response = pool.urlopen(
            method,
            target.request_target,
            headers=headers,
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )
        status = response.status
        # repeated headers come joined ("5, 6"), so two Content-Lengths make no valid one
        answer_headers = {name.lower(): response.headers[name] for name in response.headers}
        response.close()  # never read the body: it may be the whole file
        return _Answer(status, answer_headers, ranged)
    finally:
        pool.close()


def _judge(url: str, answer: _Answer, policy: MediaPolicy) -> MediaInfo:
    """Rule 5 on the final answer."""
    if answer.status != 200 and not (answer.ranged and answer.status == 206):
        raise _invalid(f"answered HTTP {answer.status}")
    headers = answer.headers
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type:
        raise _invalid("has no Content-Type")
    if content_type not in SUPPORTED_CONTENT_TYPES:
        raise _invalid(f"has an unsupported Content-Type {content_type[:100]}")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _invalid(_NO_LENGTH)
    size = _size(answer.status, headers)
    if size is None:
        raise _invalid(_NO_LENGTH)
    if size == 0:
        raise _invalid("is empty (Content-Length 0)")
    if size > policy.max_bytes:
        raise _invalid(f"is {size} bytes; the limit is {policy.max_bytes} bytes")
    return MediaInfo(url=url, content_type=content_type, content_length=size)


def _size(status: int, headers: Mapping[str, str]) -> int | None:
    if status == 206:  # the total is after the slash of "bytes 0-0/<total>"
        match = _CONTENT_RANGE.fullmatch(headers.get("content-range", "").strip())
        return int(match.group(1)) if match else None
    length = headers.get("content-length", "").strip()
    return int(length) if length.isdigit() else None
