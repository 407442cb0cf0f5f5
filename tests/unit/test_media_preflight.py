"""media_preflight without a network: addresses, URL rules, allowlist, redirects and the final answer.

Host names resolve through a fake getaddrinfo and requests go to a fake `_exchange` (the guarded
client's, which the preflight fetches through), so nothing here looks up a name or opens a socket.
"""

import contextlib
import io
import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinch_gateway.api.problems import problem_kind
from sinch_gateway.config import SenderSettings, load
from sinch_gateway.domain.errors import InvalidRequest, MediaUnavailable
from sinch_gateway.media import preflight as media_preflight
from sinch_gateway.media.preflight import MediaInfo, MediaPolicy, preflight
from sinch_gateway.outbound import client
from sinch_gateway.outbound.addresses import Target, is_public_address
from sinch_gateway.outbound.client import Answer, BodySize

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
JPEG = {"content-type": "image/jpeg", "content-length": "2048"}


def message(exc: pytest.ExceptionInfo[InvalidRequest]) -> str:
    assert problem_kind(exc.value).status == 422
    [(name, text)] = exc.value.errors
    assert name == "mediaUrl"
    return text


@dataclass
class Resolver:
    """Names to addresses; IP literals resolve to themselves; anything else does not resolve."""

    names: dict[str, list[str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(host)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            if host not in self.names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            addresses = self.names[host]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]


@dataclass
class Server:
    """Answers by (method, url without query); records every request made."""

    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[tuple[str, str, str, str]] = field(default_factory=list)  # method, address, host, target

    def __call__(self, target: Target, address: str, until: float, body_size: BodySize | None) -> Answer:
        self.requests.append(("GET", address, target.host_header, target.request_target))
        answer = self.answers.get(("GET", target.url.split("?", maxsplit=1)[0]), Answer(404))
        return delivered(answer, body_size)

    def serve(self, url: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.answers[("GET", url)] = Answer(status, JPEG if headers is None else headers)


def delivered(answer: Answer, body_size: BodySize | None) -> Answer:
    """What `_exchange` gives for a host answering `answer`: a 200 that passes the checks comes
    with its body (zeros, as long as its Content-Length says)."""
    if answer.status != 200 or body_size is None:
        return answer
    return Answer(200, answer.headers, bytes(body_size(answer)))


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    fake = Resolver({"media.example": [PUBLIC_V4]})
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, resolver: Resolver) -> Iterator[Server]:
    fake = Server()
    monkeypatch.setattr(client, "_exchange", fake)
    yield fake


HTTPS = MediaPolicy(allow_http=False)
HTTP_OK = MediaPolicy(allow_http=True)


# --- which addresses may be fetched --------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        # public
        ("8.8.8.8", True),
        (PUBLIC_V4, True),
        ("100.63.255.255", True),  # just below CGNAT
        ("100.128.0.0", True),  # just above CGNAT
        (PUBLIC_V6, True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),  # IPv4-mapped public
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("2002:808:808::1", True),  # 6to4 of a public address
        # IPv4 private, loopback, link-local and metadata
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("169.254.169.254", False),  # EC2/ECS metadata
        ("169.254.170.2", False),  # ECS task credentials
        ("169.254.0.1", False),
        # IPv4 special
        ("0.0.0.0", False),  # noqa: S104
        ("0.1.2.3", False),
        ("100.64.0.1", False),  # CGNAT
        ("100.127.255.254", False),
        ("224.0.0.1", False),  # multicast
        ("239.255.255.250", False),
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),
        ("192.0.0.1", False),
        ("192.0.2.1", False),  # documentation
        ("198.18.0.1", False),  # benchmarking
        # IPv6
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fe80::1%1", False),
        ("fd00:ec2::254", False),  # EC2 IPv6 metadata (ULA)
        ("fc00::1", False),
        ("ff02::1", False),  # multicast
        ("fec0::1", False),  # deprecated site-local
        ("2001:db8::1", False),  # documentation
        # IPv6 carrying a forbidden IPv4 address
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:100.64.0.1", False),
        ("::ffff:0.0.0.0", False),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated; refused whatever it holds)
        ("::8.8.8.8", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of the metadata address
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public
    assert is_public_address(ipaddress.ip_address(address)) is public


FORBIDDEN_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
    )
] + [
    ipaddress.ip_network("224.0.0.0/4"),
    ipaddress.ip_network("240.0.0.0/4"),
    ipaddress.ip_network("0.0.0.0/8"),
]


@st.composite
def forbidden_v4(draw: st.DrawFn) -> ipaddress.IPv4Address:
    network = draw(st.sampled_from(FORBIDDEN_V4))
    offset = draw(st.integers(0, network.num_addresses - 1))
    return ipaddress.IPv4Address(int(network.network_address) + offset)


@given(forbidden_v4())
def test_every_address_of_a_forbidden_ipv4_range_is_refused_in_every_form(ip: ipaddress.IPv4Address) -> None:
    forms: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [
        ip,
        ipaddress.IPv6Address(f"::ffff:{ip}"),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip)),
        ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | 1),
    ]
    assert not any(is_public_address(form) for form in forms)


@given(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address))
def test_mapped_and_nat64_forms_are_judged_as_their_ipv4_address(ip: ipaddress.IPv4Address) -> None:
    verdict = is_public_address(ip)
    assert is_public_address(ipaddress.IPv6Address(f"::ffff:{ip}")) is verdict
    assert (
        is_public_address(ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))) is verdict
    )


# --- URL rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "policy"),
    [
        ("http://media.example/a.jpg", HTTPS),
        ("HTTP://media.example/a.jpg", HTTPS),
        ("ftp://media.example/a.jpg", HTTP_OK),
        ("file:///etc/passwd", HTTP_OK),
        ("gopher://media.example/", HTTP_OK),
        ("data:image/jpeg;base64,AAAA", HTTP_OK),
        ("javascript:alert(1)", HTTP_OK),
        ("//media.example/a.jpg", HTTP_OK),
        ("media.example/a.jpg", HTTP_OK),
        ("", HTTP_OK),
    ],
)
def test_scheme_must_be_https_or_allowed_http(url: str, policy: MediaPolicy, server: Server) -> None:
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, policy)
    assert message(exc) == "must use https"
    assert server.requests == []


def test_http_is_fine_where_allowed(server: Server) -> None:
    server.serve("http://media.example/a.jpg")
    assert preflight("http://media.example/a.jpg", HTTP_OK).url == "http://media.example/a.jpg"


@pytest.mark.parametrize(
    "url",
    [
        "https://user@media.example/a.jpg",
        "https://user:secret@media.example/a.jpg",
        "https://:secret@media.example/a.jpg",
        "https://@media.example/a.jpg",
        "https://10.0.0.1\\@media.example/a.jpg",
        "https://media.example@10.0.0.1/a.jpg",
    ],
)
def test_userinfo_is_refused(url: str, server: Server, resolver: Resolver) -> None:
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, HTTPS)
    assert message(exc) == "must not contain a user name or password"
    assert server.requests == [] and resolver.lookups == []


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("https:///a.jpg", "has no host"),
        ("https://media.example:99999/a.jpg", "is not a valid URL (host or port)"),
        ("https://media.example:0/a.jpg", "is not a valid URL (host or port)"),
        ("https://media.example:https/a.jpg", "is not a valid URL (host or port)"),
        ("https://[::1/a.jpg", "is not a valid URL (host or port)"),
        ("https://a..b/a.jpg", "is not a valid URL (host or port)"),
        ("https://a%00b.example/a.jpg", "is not a valid URL (host or port)"),
        ("https://a b.example/a.jpg", "is not a valid URL (host or port)"),
        ("https://[fe80::1%25eth0]/a.jpg", "is not a valid URL (host or port)"),
        ("https://" + "a" * 64 + ".example/a.jpg", "is not a valid URL (host or port)"),
        ("https://media.example/\ud800.jpg", "is not a valid URL (path)"),
    ],
)
def test_malformed_urls(url: str, text: str, server: Server) -> None:
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, HTTPS)
    assert message(exc) == text


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/a.jpg",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/a.jpg",
        "https://[::1]:4010/a.jpg",
        "https://10.1.2.3/a.jpg",
        "https://100.64.1.1/a.jpg",
    ],
)
def test_literal_forbidden_addresses_are_refused(url: str, server: Server) -> None:
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, HTTPS)
    assert message(exc).startswith("resolves to a forbidden address")
    assert server.requests == []


def test_a_name_with_one_forbidden_address_among_public_ones_is_refused(
    resolver: Resolver, server: Server
) -> None:
    resolver.names["mixed.example"] = [PUBLIC_V4, PUBLIC_V6, "10.0.0.7"]
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://mixed.example/a.jpg", HTTPS)
    assert message(exc).startswith("resolves to a forbidden address")
    assert not isinstance(exc.value, MediaUnavailable)  # the rules' answer: final
    assert server.requests == []


def test_a_name_that_does_not_resolve(server: Server) -> None:
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://nowhere.example/a.jpg", HTTPS)
    assert message(exc) == "could not be reached"
    assert isinstance(exc.value, MediaUnavailable)  # it may resolve on a later try
    assert server.requests == []


def test_the_request_goes_to_the_checked_address_with_the_name_in_host(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second lookup would hand out loopback (DNS rebinding): there must be no second lookup.
    answers = iter([[PUBLIC_V4], ["127.0.0.1"]])
    real = Resolver()

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        real.names[host] = next(answers)
        return real(host, port)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    server.serve("https://rebind.example/a.jpg")
    info = preflight("https://rebind.example/a.jpg?sig=1#frag", HTTPS)
    assert info == MediaInfo("https://rebind.example/a.jpg?sig=1", "image/jpeg", bytes(2048))
    assert server.requests == [("GET", PUBLIC_V4, "rebind.example", "/a.jpg?sig=1")]
    assert real.lookups == ["rebind.example"]


def test_idn_host_is_sent_as_punycode(resolver: Resolver, server: Server) -> None:
    resolver.names["xn--bcher-kva.example"] = [PUBLIC_V4]
    server.serve("https://xn--bcher-kva.example/a.jpg")
    assert preflight("https://bücher.example/a.jpg", HTTPS).url == "https://xn--bcher-kva.example/a.jpg"
    assert server.requests[0][2] == "xn--bcher-kva.example"


# --- the allowlist of private media hosts --------------------------------------------------------


def test_allowlisted_host_and_port_may_be_private(server: Server) -> None:
    server.serve("http://127.0.0.1:4010/a.jpg")
    policy = MediaPolicy(allow_http=True, allowed_private_hosts=frozenset({"127.0.0.1:4010"}))
    assert preflight("http://127.0.0.1:4010/a.jpg", policy).content_length == 2048
    assert server.requests == [("GET", "127.0.0.1", "127.0.0.1:4010", "/a.jpg")]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4011/a.jpg",  # another port
        "http://127.0.0.1/a.jpg",  # the default port
        "http://localhost:4010/a.jpg",  # another name for the same address
        "http://rebind.example:4010/a.jpg",  # a name that resolves to it
    ],
)
def test_allowlist_is_exactly_host_and_port(url: str, resolver: Resolver, server: Server) -> None:
    resolver.names.update({"localhost": ["127.0.0.1"], "rebind.example": ["127.0.0.1"]})
    policy = MediaPolicy(allow_http=True, allowed_private_hosts=frozenset({"127.0.0.1:4010"}))
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, policy)
    assert message(exc).startswith("resolves to a forbidden address")
    assert server.requests == []


def test_allowlist_entries_are_normalised(resolver: Resolver, server: Server) -> None:
    resolver.names["sim.local"] = ["10.0.0.5"]
    server.serve("http://sim.local:4010/a.jpg")
    server.serve("http://[::1]:4010/a.jpg")
    policy = MediaPolicy(
        allow_http=True, allowed_private_hosts=frozenset({" SIM.local:4010 ", "[::1]:4010", ""})
    )
    assert policy.allowed_private_hosts == {"sim.local:4010", "[::1]:4010"}
    preflight("http://Sim.Local:4010/a.jpg", policy)
    preflight("http://[::1]:4010/a.jpg", policy)
    assert [r[1] for r in server.requests] == ["10.0.0.5", "::1"]


def test_policy_from_settings() -> None:
    base = {
        "MESSAGES_TABLE": "m",
        "TENANTS_TABLE": "t",
        "BATCHES_TABLE": "b",
        "SEND_QUEUE_URL": "q",
        "DEAD_LETTER_QUEUE_URL": "d",
        "SINCH_SECRET_ID": "s",
        "MEDIA_BUCKET": "b",
    }
    env = {
        **base,
        "ALLOW_HTTP_MEDIA": "true",
        "MEDIA_ALLOWED_PRIVATE_HOSTS": "127.0.0.1:4010, Sim.Local:80,,",
        "MEDIA_MAX_BYTES": "500000",
    }
    policy = MediaPolicy.from_settings(load(SenderSettings, env))
    assert policy == MediaPolicy(
        allow_http=True,
        allowed_private_hosts=frozenset({"127.0.0.1:4010", "sim.local:80"}),
        max_bytes=500_000,
    )
    assert MediaPolicy.from_settings(load(SenderSettings, base)) == MediaPolicy(allow_http=False)


# --- redirects -----------------------------------------------------------------------------------


def chain(server: Server, hops: int, status: int = 302) -> str:
    """/hop/<hops> redirects to /hop/<hops-1> ... to /a.jpg: `hops` redirects in all."""
    for n in range(hops, 0, -1):
        location = "/a.jpg" if n == 1 else f"/hop/{n - 1}"
        server.answers[("GET", f"https://media.example/hop/{n}")] = Answer(status, {"location": location})
    server.serve("https://media.example/a.jpg")
    return f"https://media.example/hop/{hops}" if hops else "https://media.example/a.jpg"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("hops", [0, 1, 2, 3])
def test_up_to_max_redirects_are_followed(hops: int, status: int, server: Server) -> None:
    info = preflight(chain(server, hops, status), HTTPS)
    assert info.url == "https://media.example/a.jpg"
    assert len(server.requests) == hops + 1


def test_one_redirect_too_many_is_refused(server: Server) -> None:
    with pytest.raises(InvalidRequest) as exc:
        preflight(chain(server, 4), HTTPS)
    assert message(exc) == "redirects more than 3 times"
    assert len(server.requests) == 4  # the 4th redirect is never followed


@pytest.mark.parametrize("limit", [0, 1, 5])
def test_redirect_limit_follows_the_policy(limit: int, server: Server) -> None:
    policy = MediaPolicy(allow_http=False, max_redirects=limit)
    assert preflight(chain(server, limit), policy).url == "https://media.example/a.jpg"
    with pytest.raises(InvalidRequest) as exc:
        preflight(chain(server, limit + 1), policy)
    assert message(exc) == f"redirects more than {limit} times"


@pytest.mark.parametrize(
    ("location", "final"),
    [
        ("/b/c.jpg", "https://media.example/b/c.jpg"),
        ("c.jpg", "https://media.example/dir/c.jpg"),
        ("../c.jpg", "https://media.example/c.jpg"),
        ("//cdn.example/c.jpg", "https://cdn.example/c.jpg"),
        ("https://cdn.example/c.jpg?x=1#f", "https://cdn.example/c.jpg?x=1"),
    ],
)
def test_relative_locations_resolve_against_the_current_url(
    location: str, final: str, resolver: Resolver, server: Server
) -> None:
    resolver.names["cdn.example"] = [PUBLIC_V6]
    server.answers[("GET", "https://media.example/dir/a.jpg")] = Answer(302, {"location": location})
    server.serve(final.split("?", maxsplit=1)[0])
    assert preflight("https://media.example/dir/a.jpg", HTTPS).url == final


@pytest.mark.parametrize(
    ("location", "text"),
    [
        ("https://10.0.0.1/a.jpg", "redirects to a URL that resolves to a forbidden address"),
        ("http://169.254.169.254/latest/meta-data/", "redirects to a URL that must use https"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "redirects to a URL that resolves to a forbidden address",
        ),
        ("https://[fd00:ec2::254]/", "redirects to a URL that resolves to a forbidden address"),
        ("https://inside.example/a.jpg", "redirects to a URL that resolves to a forbidden address"),
        ("https://u:p@cdn.example/a.jpg", "redirects to a URL that must not contain a user name or password"),
        ("file:///etc/passwd", "redirects to a URL that must use https"),
        ("https://gone.example/a.jpg", "redirects to a URL that could not be reached"),
    ],
)
def test_every_hop_is_checked_before_it_is_fetched(
    location: str, text: str, resolver: Resolver, server: Server
) -> None:
    resolver.names["inside.example"] = ["192.168.0.10"]
    server.answers[("GET", "https://media.example/a.jpg")] = Answer(307, {"location": location})
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://media.example/a.jpg", HTTPS)
    assert message(exc).startswith(text)
    assert [r[1] for r in server.requests] == [PUBLIC_V4]  # nothing sent to the redirect target


def test_a_redirect_without_location(server: Server) -> None:
    server.answers[("GET", "https://media.example/a.jpg")] = Answer(302, {})
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://media.example/a.jpg", HTTPS)
    assert message(exc) == "answered HTTP 302 without a Location"


# --- the final answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "later"),
    [
        (201, False),
        (204, False),
        (206, False),
        (304, False),
        (403, False),
        (404, False),
        (405, False),
        (410, False),
        (408, True),  # "not now": a later try may pass, and no Idempotency-Key keeps it
        (429, True),
        (500, True),
        (501, True),
        (503, True),
    ],
)
def test_the_final_answer_must_be_200(status: int, later: bool, server: Server) -> None:
    server.serve("https://media.example/a.jpg", status)
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://media.example/a.jpg", HTTPS)
    assert message(exc) == f"answered HTTP {status}"
    assert isinstance(exc.value, MediaUnavailable) is later
    assert [r[0] for r in server.requests] == ["GET"]  # one request: no HEAD, no second try


def test_the_media_comes_with_its_bytes(server: Server) -> None:
    server.serve("https://media.example/a.jpg")
    info = preflight("https://media.example/a.jpg", HTTPS)
    assert (info.content_type, info.body) == ("image/jpeg", bytes(2048))


def judge(answer: Answer, max_bytes: int = 1_048_576) -> MediaInfo:
    content_type, size = media_preflight._judge(answer, MediaPolicy(allow_http=False, max_bytes=max_bytes))
    return MediaInfo("https://m.example/a", content_type, bytes(size))


def judge_message(answer: Answer, max_bytes: int = 1_048_576) -> str:
    with pytest.raises(InvalidRequest) as exc:
        judge(answer, max_bytes)
    return message(exc)


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip"])
def test_a_compressed_answer_is_refused(encoding: str) -> None:
    assert judge_message(Answer(200, {**JPEG, "content-encoding": encoding})) == (
        f"is sent compressed (Content-Encoding {encoding})"
    )
    assert judge(Answer(200, {**JPEG, "content-encoding": "identity"})).content_length == 2048


@pytest.mark.parametrize("content_type", sorted(media_preflight.SUPPORTED_CONTENT_TYPES))
def test_supported_content_types(content_type: str) -> None:
    assert judge(Answer(200, {**JPEG, "content-type": content_type})).content_type == content_type


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("IMAGE/JPEG; charset=binary", "image/jpeg"),
        (" image/png ;q=1", "image/png"),
        ("Text/VCard", "text/vcard"),
    ],
)
def test_content_type_parameters_and_case_are_ignored(header: str, kind: str) -> None:
    assert judge(Answer(200, {**JPEG, "content-type": header})).content_type == kind


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "text/html", "image/webp", "image/svg+xml"]
)
def test_unsupported_content_types(content_type: str) -> None:
    text = judge_message(Answer(200, {**JPEG, "content-type": content_type + "; charset=utf-8"}))
    assert text == f"has an unsupported Content-Type {content_type}"


def test_missing_content_type() -> None:
    assert judge_message(Answer(200, {"content-length": "10"})) == "has no Content-Type"


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "image/jpeg"},
        {"content-type": "image/jpeg", "transfer-encoding": "chunked"},
        {"content-type": "image/jpeg", "transfer-encoding": "gzip, chunked", "content-length": "10"},
        {"content-type": "image/jpeg", "content-length": "ten"},
        {"content-type": "image/jpeg", "content-length": "-1"},
        {"content-type": "image/jpeg", "content-length": "10, 12"},  # two Content-Length headers
    ],
)
def test_a_content_length_is_required(headers: dict[str, str]) -> None:
    assert (
        judge_message(Answer(200, headers))
        == "has no Content-Length (chunked transfer is not accepted by Sinch)"
    )


def test_size_limit() -> None:
    assert judge(Answer(200, {**JPEG, "content-length": "1000"}), max_bytes=1000).content_length == 1000
    text = judge_message(Answer(200, {**JPEG, "content-length": "1001"}), max_bytes=1000)
    assert text == "is 1001 bytes; the limit is 1000 bytes"
    assert judge_message(Answer(200, {**JPEG, "content-length": "0"})) == "is empty (Content-Length 0)"


@given(st.integers(1, 10**12), st.integers(1, 10**7))
def test_size_limit_property(size: int, limit: int) -> None:
    answer = Answer(200, {**JPEG, "content-length": str(size)})
    if size <= limit:
        assert judge(answer, limit).content_length == size
    else:
        assert judge_message(answer, limit) == f"is {size} bytes; the limit is {limit} bytes"


# --- reaching the host ---------------------------------------------------------------------------


def test_the_next_address_is_tried_only_when_connecting_fails(
    resolver: Resolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver.names["two.example"] = [PUBLIC_V6, PUBLIC_V4]
    tried: list[str] = []

    def exchange(failure: Callable[[], Exception]) -> Callable[..., Answer]:
        def fake(target: Target, address: str, until: float, body_size: BodySize | None) -> Answer:
            tried.append(address)
            if address == PUBLIC_V6:
                raise failure()
            return delivered(Answer(200, JPEG), body_size)

        return fake

    refused = client._NotConnected()
    refused.__cause__ = ConnectionRefusedError()
    monkeypatch.setattr(client, "_exchange", exchange(lambda: refused))
    assert preflight("https://two.example/a.jpg", HTTPS).content_length == 2048
    assert tried == [PUBLIC_V6, PUBLIC_V4]

    tried.clear()
    monkeypatch.setattr(client, "_exchange", exchange(TimeoutError))  # once connected
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://two.example/a.jpg", HTTPS)
    assert message(exc) == "could not be reached"
    assert tried == [PUBLIC_V6]


def test_the_whole_preflight_has_a_deadline(server: Server) -> None:
    server.serve("https://media.example/a.jpg")
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://media.example/a.jpg", MediaPolicy(allow_http=False, total_timeout_s=0))
    assert isinstance(exc.value, MediaUnavailable)  # a later try may pass
    assert (
        message(exc)
        == "could not be fetched in time: all media of a request must be fetched within 0 seconds"
    )
    assert server.requests == []


# --- ports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "policy", "text"),
    [
        ("https://media.example:8443/a.jpg", HTTPS, "must use the standard port (443 for https)"),
        ("https://media.example:80/a.jpg", HTTPS, "must use the standard port (443 for https)"),
        ("https://media.example:22/a.jpg", HTTPS, "must use the standard port (443 for https)"),
        ("http://media.example:8080/a.jpg", HTTP_OK, "must use the standard port (80 for http)"),
        ("http://media.example:443/a.jpg", HTTP_OK, "must use the standard port (80 for http)"),
    ],
)
def test_only_the_standard_port_is_used(url: str, policy: MediaPolicy, text: str, server: Server) -> None:
    server.serve(url.rsplit("/", 1)[0] + "/a.jpg")
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, policy)
    assert message(exc) == text
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "policy"),
    [("https://media.example:443/a.jpg", HTTPS), ("http://media.example:80/a.jpg", HTTP_OK)],
)
def test_the_standard_port_may_be_spelt_out(url: str, policy: MediaPolicy, server: Server) -> None:
    server.serve(url)
    assert preflight(url, policy).content_length == 2048
    assert server.requests == [("GET", PUBLIC_V4, "media.example", "/a.jpg")]


def test_a_redirect_to_another_port_is_refused_before_it_is_fetched(server: Server) -> None:
    server.answers[("GET", "https://media.example/a.jpg")] = Answer(
        302, {"location": "https://media.example:8443/a.jpg"}
    )
    with pytest.raises(InvalidRequest) as exc:
        preflight("https://media.example/a.jpg", HTTPS)
    assert message(exc) == "redirects to a URL that must use the standard port (443 for https)"
    assert len(server.requests) == 1


def judged(policy: MediaPolicy) -> BodySize:
    """What the preflight gives the client for a 200: the size its judgement of the head allows."""
    return lambda head: media_preflight._judge(head, policy)[1]


# --- the request we send -------------------------------------------------------------------------


def sent(url: str, answer: bytes = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") -> bytes:
    """The bytes `_converse` writes for `url`, over a socket pair (no network)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(answer)
        client._converse(ours, Target.parse(url, HTTP_OK), time.monotonic() + 5, judged(HTTP_OK))
        ours.shutdown(socket.SHUT_WR)
        request = b""
        while chunk := theirs.recv(4096):
            request += chunk
    return request


def test_the_request_is_a_plain_get_with_a_neutral_user_agent() -> None:
    request = sent("https://media.example/a.jpg?sig=1")
    lines = request.decode("ascii").split("\r\n")
    assert lines[0] == "GET /a.jpg?sig=1 HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    assert headers["Host"] == "media.example"
    assert headers["Accept-Encoding"] == "identity"
    assert "Range" not in headers
    user_agent = headers["User-Agent"]
    assert user_agent == client.USER_AGENT
    # nothing that names the product, its parts or a version of ours
    for word in ("sinch", "gateway", "preflight", "python", "urllib", "0.1.0"):
        assert word not in user_agent.lower()
    assert request.endswith(b"\r\n\r\n")


def converse(answer: bytes, *, close: bool = True) -> Answer:
    """What `_converse` makes of a host that answers `answer` (then closes, unless `close` is
    False: then it stays silent)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(answer)
        if close:
            theirs.shutdown(socket.SHUT_WR)
        target = Target.parse("https://media.example/a.jpg", HTTPS)
        return client._converse(ours, target, time.monotonic() + 0.5, judged(HTTPS))


def test_a_200_is_read_to_exactly_its_content_length() -> None:
    body = b"\xff\xd8" + bytes(range(256)) * 4 + b"\xff\xd9"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body)
    answer = converse(head + body + b"whatever comes after is not read")
    assert (answer.status, answer.body) == (200, body)


@pytest.mark.parametrize("close", [True, False])
def test_a_body_shorter_than_its_content_length_is_no_answer(close: bool) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n"
    with pytest.raises(client._NETWORK_ERRORS):
        converse(head + bytes(100), close=close)


def test_a_refused_head_is_refused_before_its_body_is_read() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 99999999\r\n\r\n"
    with pytest.raises(InvalidRequest) as exc:
        converse(head, close=False)  # the body never comes: refused without waiting for it
    assert message(exc) == "is 99999999 bytes; the limit is 1048576 bytes"


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("https://media.example/a b.jpg", b"GET /a%20b.jpg HTTP/1.1"),
        ("https://media.example/caf\u00e9.jpg", b"GET /caf%C3%A9.jpg HTTP/1.1"),
        ("https://media.example/a%20b.jpg?x=%41&y=<z>", b"GET /a%20b.jpg?x=%41&y=%3Cz%3E HTTP/1.1"),
        ("https://media.example/a\x0bb.jpg", b"GET /a%0Bb.jpg HTTP/1.1"),
        ("https://media.example", b"GET / HTTP/1.1"),
    ],
)
def test_the_request_target_is_always_one_clean_line(url: str, line: bytes) -> None:
    assert sent(url).split(b"\r\n")[0] == line


# --- anything upstream says is a MediaInfo or a 422 ----------------------------------------------

HEADER_NAMES = ["content-type", "content-length", "content-range", "transfer-encoding", "location", "x-other"]
# Every one of these is str.isdigit(); int() takes the Nd ones ("\u0663" is 3) and fails on the rest.
DIGIT_LIKE = "0123456789\u00b2\u00b3\u00b9\u0660\u0663\u06f1\u0967\u2460"
NUMBERISH = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.text(st.sampled_from(DIGIT_LIKE), min_size=1, max_size=25),
    st.text(st.sampled_from(DIGIT_LIKE + " \t\u00a0\u2007+-,._xXe"), max_size=25),  # signs, lists, odd spaces
    st.integers(4000, 6000).map(lambda n: "9" * n),  # past int()'s 4300 digits
)
ODD_VALUES = st.sampled_from(
    [
        "\u00b2",
        "\u0663",
        "\u0661\u0662",
        " 12 ",
        "12, 12",
        "bytes 0-0/\u00b2",
        "bytes 0-0/*",
        "bytes */12",
        "BYTES 0-0/12",
        "image/jpeg; charset=\u00ff",
        ";",
        "\x00",
        "\r\n 12",
        "\ud800",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=40),
    NUMBERISH,
    NUMBERISH.map(lambda n: f"bytes 0-0/{n}"),
    st.sampled_from(sorted(media_preflight.SUPPORTED_CONTENT_TYPES)).map(lambda t: t + "; q=1"),
    ODD_VALUES,
)
SIZES = st.one_of(NUMBERISH, HEADER_VALUES)
SUPPORTED = st.sampled_from(sorted(media_preflight.SUPPORTED_CONTENT_TYPES))
CONTENT_TYPES = st.one_of(SUPPORTED, SUPPORTED.map(lambda t: f" {t.upper()} ;x=\u00ff"), HEADER_VALUES)
# Mostly answers that come close to passing, so that the odd value is what gets judged.
HEADERS = st.fixed_dictionaries(
    {
        "content-type": CONTENT_TYPES,
        "content-length": SIZES,
        "content-range": st.one_of(NUMBERISH.map(lambda n: f"bytes 0-0/{n}"), HEADER_VALUES),
    },
    optional={
        "transfer-encoding": st.sampled_from(["chunked", "gzip, chunked", "identity", "\u00ff"]),
        "x-other": HEADER_VALUES,
    },
) | st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES)
STATUSES = st.one_of(st.sampled_from([200, 206]), st.integers(0, 1000))


def assert_a_clean_422(exc: InvalidRequest) -> None:
    assert problem_kind(exc).status == 422
    [(name, text)] = exc.errors
    assert name == "mediaUrl"
    assert text.isascii() and text.isprintable(), text  # upstream text never reaches the client raw


@given(HEADERS, st.integers(1, 10**7))
def test_any_final_answer_is_media_info_or_a_422(headers: dict[str, str], max_bytes: int) -> None:
    try:
        info = judge(Answer(200, headers), max_bytes)
    except InvalidRequest as exc:
        assert_a_clean_422(exc)
    else:
        assert info.content_type in media_preflight.SUPPORTED_CONTENT_TYPES
        assert 0 < info.content_length <= max_bytes
        # the size came from ASCII digits and nothing else ("\u0663" is 3 to int(), not to HTTP)
        stated = headers["content-length"]
        assert stated.strip(" \t").isascii() and int(stated) == info.content_length


@given(NUMBERISH)
def test_a_stated_size_is_read_from_ascii_digits_only(value: str) -> None:
    answer = Answer(200, {"content-type": "image/png", "content-length": value})
    digits = value.strip(" \t")
    if not (digits.isascii() and digits.isdigit()):
        assert judge_message(answer) == "has no Content-Length (chunked transfer is not accepted by Sinch)"
    elif len(digits.lstrip("0")) > 18:
        assert judge_message(answer) == f"is more than {'9' * 18} bytes; the limit is 1048576 bytes"
    elif 0 < int(digits) <= 1_048_576:
        assert judge(answer).content_length == int(digits)
    else:
        assert judge_message(answer).startswith(("is empty", f"is {int(digits)} bytes"))


LOCATION_HOSTS = st.sampled_from(
    [
        "media.example",
        "cdn.example",
        f"[{PUBLIC_V6}]",
        "[::1]",
        "127.0.0.1",
        "169.254.169.254",
        "[fe80::1%25eth0]",
        "b\u00fccher.example",
        "xn--bcher-kva.example",
        "a\uff03b.example",
        "[::1",
        "[v1.x]",
        "",
        "u:p@media.example",
        "media.example\\@evil.example",
        "MEDIA.EXAMPLE.",
        "a" * 70 + ".example",
    ]
)
LOCATION_PORTS = st.one_of(
    st.just(""),
    st.integers(-1, 70_000).map(lambda port: f":{port}"),
    st.sampled_from([":", ":https", ": 443", ":\u0664\u0664\u0663", ":+443"]),
)
LOCATIONS = st.one_of(
    st.builds(
        lambda scheme, host, port, path: scheme + host + port + path,
        st.sampled_from(["https://", "http://", "HTTPS://", "//", "ftp://", "javascript:", "https:", ""]),
        LOCATION_HOSTS,
        LOCATION_PORTS,
        st.text(max_size=20),
    ),
    st.text(max_size=40),
)
FINAL_ANSWERS = st.builds(
    Answer,
    st.one_of(st.sampled_from([200, 206, 301, 302, 303, 307, 308, 405, 501]), STATUSES),
    st.one_of(HEADERS, st.builds(lambda h, loc: {**h, "location": loc}, HEADERS, LOCATIONS)),
)


# Each hop starts a lookup thread: on a busy shared machine one example can pass 200 ms.
@settings(deadline=None)
@given(st.lists(FINAL_ANSWERS, min_size=1, max_size=6), st.booleans())
def test_any_chain_of_answers_is_media_info_or_a_422(answers: list[Answer], allow_http: bool) -> None:
    remaining = iter(answers)

    def exchange(target: Target, address: str, until: float, body_size: BodySize | None) -> Answer:
        return delivered(next(remaining, answers[-1]), body_size)

    resolver = Resolver({name: [PUBLIC_V4] for name in ("media.example", "cdn.example", "media.example.")})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", resolver)
        patch.setattr(client, "_exchange", exchange)
        try:
            info = preflight("https://media.example/a.jpg", MediaPolicy(allow_http=allow_http))
        except InvalidRequest as exc:
            assert_a_clean_422(exc)
        else:
            assert info.content_type in media_preflight.SUPPORTED_CONTENT_TYPES
            assert urlsplit(info.url).hostname in {"media.example", "cdn.example", PUBLIC_V6}


@settings(deadline=None)  # a lookup thread per example, as above
@given(st.one_of(LOCATIONS, st.text()), st.booleans())
def test_any_media_url_is_media_info_or_a_422(url: str, allow_http: bool) -> None:
    resolver = Resolver({name: [PUBLIC_V4] for name in ("media.example", "cdn.example", "media.example.")})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", resolver)
        patch.setattr(client, "_exchange", Server())  # every path is a 404
        with pytest.raises(InvalidRequest) as exc:
            preflight(url, MediaPolicy(allow_http=allow_http))
    assert_a_clean_422(exc.value)


STATUS_LINES = st.one_of(
    st.sampled_from(
        [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.0 206 Partial",
            b"HTTP/1.1 302 Found",
            b"HTTP/1.1 103 Early",
            b"HTTP/1.1 200",
        ]
    ),
    st.builds(lambda n: b"HTTP/1.1 %d X" % n, st.integers(-5, 1200)),
    st.binary(max_size=30),
)
HEADER_LINES = st.lists(
    st.one_of(
        st.builds(
            lambda name, value: name + b": " + value,
            st.sampled_from([n.encode() for n in HEADER_NAMES]),
            st.one_of(
                HEADER_VALUES.map(lambda v: v.encode("utf-8", "surrogatepass")), st.binary(max_size=30)
            ),
        ),
        st.binary(max_size=30),
    ),
    max_size=110,
)


@given(STATUS_LINES, HEADER_LINES, st.booleans())
def test_any_bytes_on_the_wire_are_an_answer_or_unreachable(
    status_line: bytes, lines: list[bytes], interim: bool
) -> None:
    raw = b"\r\n".join([status_line, *lines]) + b"\r\n\r\n"
    if interim:
        raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + raw
    try:
        answer = client._read_answer(io.BufferedReader(io.BytesIO(raw)))
    except client._NETWORK_ERRORS:
        return  # a garbage answer: "could not be reached"
    assert 100 <= answer.status <= 999
    try:
        judge(answer)
    except InvalidRequest as exc:
        assert_a_clean_422(exc)


@given(st.binary(max_size=300))
def test_any_bytes_at_all_are_an_answer_or_unreachable(raw: bytes) -> None:
    with contextlib.suppress(*client._NETWORK_ERRORS):
        client._read_answer(io.BufferedReader(io.BytesIO(raw)))
