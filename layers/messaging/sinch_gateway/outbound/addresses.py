"""Which addresses a request to a caller's URL may reach (rules 1 and 2 of the package): the URL
made into a target, its host looked up by a deadline and every address it gives checked.

getaddrinfo has no timeout, so a lookup runs on a thread that is abandoned when its time is up.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from aws_lambda_powertools import Logger

from sinch_gateway.domain.errors import InvalidRequest

logger = Logger(child=True)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A host name after IDNA: letters, digits, "-", "_" and dots. "%", spaces or NUL are no host name.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
# What may stay as it is in a request target; anything else (space, controls, non-ASCII) is escaped.
TARGET_SAFE = "!$&'()*+,;=:@/?%[]"
# DNS failure, refused, timed out, TLS failure, garbage: one answer, or a caller maps networks
# through us.
_UNREACHABLE = "could not be reached"


@dataclass(frozen=True)
class OutboundPolicy:
    """Where and how long a request to a caller's URL may go."""

    allow_http: bool
    # "host:port" (IPv6 as "[::1]:port") allowed to be private/loopback and on any port: the local
    # stack's simulator; "host:*" any port of it, "!host:port" excepted (see Target.allowed_by).
    allowed_private_hosts: frozenset[str] = frozenset()
    timeout_s: float = 3.0  # each lookup; each request, from connect to the answer's last byte
    max_redirects: int = 3
    # One deadline for every lookup, hop and address of a POST or an address check; a GET is given
    # its deadline by its caller, who may share one across several (all media of a request).
    total_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        normalised = frozenset(h.strip().lower() for h in self.allowed_private_hosts if h.strip())
        object.__setattr__(self, "allowed_private_hosts", normalised)


class Refused(Exception):
    """A rule refused the URL, or its host gave no usable answer; the message completes "the URL
    ...". `transient`: a later try may pass."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    @classmethod
    def unreachable(cls) -> Refused:
        return cls(_UNREACHABLE, transient=True)


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # ASCII, lower case, IPv6 without brackets
    port: int
    host_header: str
    request_target: str  # ASCII, escaped

    @classmethod
    def parse(cls, url: str, policy: OutboundPolicy) -> Target:
        """Rule 1 and a well-formed URL."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise Refused("is not a valid URL (host or port)") from None
        scheme = parts.scheme.lower()
        if scheme != "https" and not (scheme == "http" and policy.allow_http):
            raise Refused("must use https")
        if "@" in parts.netloc:  # also catches "a\\@b" tricks that parsers disagree on
            raise Refused("must not contain a user name or password")
        host = _ascii_host(parts.hostname or "")
        if port == 0:
            raise Refused("is not a valid URL (host or port)")
        bracketed = f"[{host}]" if ":" in host else host
        netloc = bracketed if port is None else f"{bracketed}:{port}"
        port = port or _DEFAULT_PORTS[scheme]
        try:
            request_target = quote(
                (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=TARGET_SAFE
            )
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8 to escape
            raise Refused("is not a valid URL (path)") from None
        return cls(
            url=urlunsplit((scheme, netloc, parts.path, parts.query, "")),  # the host as it is looked up
            scheme=scheme,
            host=host,
            port=port,
            host_header=bracketed if port == _DEFAULT_PORTS[scheme] else f"{bracketed}:{port}",
            request_target=request_target,
        )

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


def _ascii_host(host: str) -> str:
    if not host:
        raise Refused("has no host")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
            raise Refused("is not a valid URL (host or port)")  # a zone names one of our interfaces
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()  # what DNS, SNI and Host need
    except UnicodeError:
        raise Refused("is not a valid URL (host or port)") from None
    if len(ascii_host) > 254 or not _HOST_NAME.fullmatch(ascii_host):
        raise Refused("is not a valid URL (host or port)")
    return ascii_host


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


def allowed_addresses(target: Target, policy: OutboundPolicy, deadline: float) -> list[str]:
    """Rule 2: the addresses to connect to, every one of them allowed, on the scheme's port."""
    addresses = _resolve(target.host, target.port, min(deadline, time.monotonic() + policy.timeout_s))
    if target.allowed_by(policy.allowed_private_hosts):
        return addresses
    # One bad address refuses the lot: the resolver may hand out another one on the next lookup.
    if not all(is_public_address(address) for address in addresses):
        raise Refused("resolves to a forbidden address (private, loopback, link-local or reserved)")
    standard = _DEFAULT_PORTS[target.scheme]
    if target.port != standard:
        raise Refused(f"must use the standard port ({standard} for {target.scheme})")
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
            logger.info("caller's host name did not resolve", extra={"cause": repr(failure)[:200]})
        finally:
            done.set()

    left = until - time.monotonic()
    if left <= 0:
        raise Refused.unreachable()
    threading.Thread(target=lookup, name="outbound-lookup", daemon=True).start()
    if not done.wait(left):
        logger.info("caller's host name lookup timed out")
        raise Refused.unreachable()
    if not found:
        raise Refused.unreachable()
    return list(found)


def check_address(url: str, policy: OutboundPolicy, field: str) -> None:
    """Rules 1 and 2 alone (no request is made): raises InvalidRequest on `field`."""
    try:
        allowed_addresses(Target.parse(url, policy), policy, time.monotonic() + policy.total_timeout_s)
    except Refused as refused:
        raise InvalidRequest(f"The {field} cannot be used.", errors=[(field, str(refused))]) from None
