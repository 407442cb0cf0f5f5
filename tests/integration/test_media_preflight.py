"""media_preflight over real HTTP(S) on 127.0.0.1: a small media server, and the Sinch simulator's samples.

Names that must resolve (media.test, rebind.test...) go through a patched getaddrinfo; every
other lookup is the real one, and the suite's guard refuses any connect off the loopback.
"""

from __future__ import annotations

import datetime
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.sinch_simulator import SinchSimulator
from sinch_gateway.api.problems import problem_kind
from sinch_gateway.domain.errors import InvalidRequest
from sinch_gateway.media.preflight import MediaInfo, MediaPolicy, preflight
from sinch_gateway.outbound.client import USER_AGENT

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2040 + b"\xff\xd9"  # 2048 bytes
MAX = 1_048_576
HUGE = 3 * MAX  # served in full: must never be read


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names


class MediaHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MediaServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def _route(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append(Seen(self.command, self.path, headers))
        path = self.path.split("?", maxsplit=1)[0]
        hops = re.fullmatch(r"/hops/(\d+)", path)
        routes: dict[str, Callable[[], None]] = {
            "/ok.jpg": lambda: self._answer(200, "image/jpeg", JPEG),
            "/hops/ok.jpg": lambda: self._answer(200, "image/jpeg", JPEG),
            "/params.jpg": lambda: self._answer(200, "IMAGE/JPEG; charset=binary", JPEG),
            "/big.jpg": lambda: self._answer(200, "image/jpeg", b"\x00" * (MAX + 1)),
            "/chunked.jpg": lambda: self._chunked("image/jpeg", JPEG),
            "/octet.bin": lambda: self._answer(200, "application/octet-stream", JPEG),
            "/huge.jpg": lambda: self._answer(200, "image/jpeg", b"\x00" * HUGE),
            "/short.jpg": lambda: self._short("image/jpeg", JPEG),
            "/drip-body.jpg": lambda: self._drip_body("image/jpeg", JPEG),
            "/slow.jpg": self._slow,
            "/to-private": lambda: self._redirect(302, "http://10.0.0.1/a.jpg"),
            "/to-metadata": lambda: self._redirect(307, "http://169.254.169.254/latest/meta-data/"),
            "/to-ipv6-metadata": lambda: self._redirect(308, "http://[fd00:ec2::254]/latest/meta-data/"),
        }
        if hops:  # /hops/n redirects n times; relative Locations, both forms
            n = int(hops.group(1))
            routes[path] = lambda: self._redirect(302, f"/hops/{n - 1}" if n > 1 else "ok.jpg")
        try:
            routes.get(path, lambda: self._answer(404, "text/plain", b"not found"))()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the preflight hung up without reading: as it should

    def _slow(self) -> None:
        time.sleep(1.0)
        self._answer(200, "image/jpeg", JPEG)

    def _answer(self, status: int, content_type: str, body: bytes, **extra: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def _chunked(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(f"{len(body):X}\r\n".encode() + body + b"\r\n0\r\n\r\n")

    def _short(self, content_type: str, body: bytes) -> None:
        """A head promising the whole body, half of it, then the connection closes."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True

    def _drip_body(self, content_type: str, body: bytes) -> None:
        """A prompt head, then the body a byte every 0.2 s (each read on time, the whole never)."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for byte in body:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.2)

    def _redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


class MediaServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), MediaHandler)
        self.seen: list[Seen] = []
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is expected here
            super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> MediaServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def media_server() -> Iterator[MediaServer]:
    with MediaServer() as server:
        yield server


@pytest.fixture
def media(media_server: MediaServer) -> MediaServer:
    media_server.seen.clear()
    return media_server


@pytest.fixture
def policy(media: MediaServer) -> MediaPolicy:
    return MediaPolicy(allow_http=True, allowed_private_hosts=frozenset({f"127.0.0.1:{media.port}"}))


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host names that resolve to the given addresses; every other lookup is the real one."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port))) for a in table[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket connects to during the test."""
    seen: list[Any] = []
    guarded = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        seen.append(address)
        guarded(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def refusal(url: str, policy: MediaPolicy) -> str:
    with pytest.raises(InvalidRequest) as exc:
        preflight(url, policy)
    [(field, message)] = exc.value.errors
    assert field == "mediaUrl"
    assert problem_kind(exc.value).status == 422
    return message


# --- a local media server ------------------------------------------------------------------------


def test_a_valid_jpeg_is_fetched_with_one_get(media: MediaServer, policy: MediaPolicy) -> None:
    url = f"http://127.0.0.1:{media.port}/ok.jpg"
    assert preflight(url, policy) == MediaInfo(url, "image/jpeg", JPEG)
    assert [(s.method, s.path) for s in media.seen] == [("GET", "/ok.jpg")]
    assert media.seen[0].headers["host"] == f"127.0.0.1:{media.port}"
    assert media.seen[0].headers["user-agent"] == USER_AGENT  # names nothing of ours (unit tests)


def test_content_type_parameters_are_ignored(media: MediaServer, policy: MediaPolicy) -> None:
    assert preflight(f"http://127.0.0.1:{media.port}/params.jpg", policy).content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/big.jpg", f"is {MAX + 1} bytes; the limit is {MAX} bytes"),
        ("/chunked.jpg", "has no Content-Length (chunked transfer is not accepted by Sinch)"),
        ("/octet.bin", "has an unsupported Content-Type application/octet-stream"),
        ("/missing.jpg", "answered HTTP 404"),
    ],
)
def test_bad_media_is_refused_saying_why(
    path: str, message: str, media: MediaServer, policy: MediaPolicy
) -> None:
    assert refusal(f"http://127.0.0.1:{media.port}{path}", policy) == message
    assert [s.method for s in media.seen] == ["GET"]


def test_a_huge_body_is_refused_by_its_head_unread(media: MediaServer, policy: MediaPolicy) -> None:
    started = time.monotonic()
    assert refusal(f"http://127.0.0.1:{media.port}/huge.jpg", policy) == (
        f"is {HUGE} bytes; the limit is {MAX} bytes"
    )
    assert time.monotonic() - started < 2


def test_a_body_cut_short_is_unreachable(media: MediaServer, policy: MediaPolicy) -> None:
    assert refusal(f"http://127.0.0.1:{media.port}/short.jpg", policy) == "could not be reached"


def test_a_body_that_drips_ends_at_the_deadline(media: MediaServer) -> None:
    policy = MediaPolicy(
        allow_http=True,
        allowed_private_hosts=frozenset({f"127.0.0.1:{media.port}"}),
        timeout_s=1.0,
        total_timeout_s=1.5,
    )
    started = time.monotonic()
    assert refusal(f"http://127.0.0.1:{media.port}/drip-body.jpg", policy) == "could not be reached"
    assert time.monotonic() - started < 2.5  # 2048 bytes at 5 a second would take 7 minutes


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_redirects_up_to_the_limit_are_followed(hops: int, media: MediaServer, policy: MediaPolicy) -> None:
    info = preflight(f"http://127.0.0.1:{media.port}/hops/{hops}", policy)
    assert info.url == f"http://127.0.0.1:{media.port}/hops/ok.jpg"
    assert len(media.seen) == hops + 1


def test_two_redirects_land_on_the_media(media: MediaServer, policy: MediaPolicy) -> None:
    info = preflight(f"http://127.0.0.1:{media.port}/hops/2", policy)
    assert info == MediaInfo(f"http://127.0.0.1:{media.port}/hops/ok.jpg", "image/jpeg", JPEG)
    assert [s.path for s in media.seen] == ["/hops/2", "/hops/1", "/hops/ok.jpg"]


def test_four_redirects_are_refused(media: MediaServer, policy: MediaPolicy) -> None:
    assert refusal(f"http://127.0.0.1:{media.port}/hops/4", policy) == "redirects more than 3 times"
    assert [s.path for s in media.seen] == ["/hops/4", "/hops/3", "/hops/2", "/hops/1"]


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata", "/to-ipv6-metadata"])
def test_a_redirect_to_a_forbidden_address_is_refused_before_connecting(
    path: str, media: MediaServer, policy: MediaPolicy, connects: list[Any]
) -> None:
    message = refusal(f"http://127.0.0.1:{media.port}{path}", policy)
    assert message.startswith("redirects to a URL that resolves to a forbidden address")
    assert connects == [("127.0.0.1", media.port)]


def test_dns_rebind_to_loopback_on_another_port_is_refused(
    media: MediaServer, policy: MediaPolicy, names: dict[str, list[str]], connects: list[Any]
) -> None:
    names["rebind.test"] = ["127.0.0.1"]
    message = refusal(f"http://rebind.test:{media.port}/ok.jpg", policy)
    assert message.startswith("resolves to a forbidden address")
    assert connects == [] and media.seen == []


def test_an_allowlisted_name_is_reached_by_its_checked_addresses_in_turn(
    media: MediaServer, names: dict[str, list[str]], connects: list[Any]
) -> None:
    # 127.0.0.2 has no listener: refused there, the next checked address is tried.
    names["media.test"] = ["127.0.0.2", "127.0.0.1"]
    policy = MediaPolicy(allow_http=True, allowed_private_hosts=frozenset({f"media.test:{media.port}"}))
    url = f"http://media.test:{media.port}/ok.jpg"
    assert preflight(url, policy).url == url
    assert connects == [("127.0.0.2", media.port), ("127.0.0.1", media.port)]
    assert media.seen[0].headers["host"] == f"media.test:{media.port}"


def test_connection_refused(media: MediaServer) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = MediaPolicy(allow_http=True, allowed_private_hosts=frozenset({f"127.0.0.1:{port}"}))
    assert refusal(f"http://127.0.0.1:{port}/ok.jpg", policy) == "could not be reached"


def test_a_slow_server_times_out(media: MediaServer) -> None:
    policy = MediaPolicy(
        allow_http=True, allowed_private_hosts=frozenset({f"127.0.0.1:{media.port}"}), timeout_s=0.2
    )
    started = time.monotonic()
    assert refusal(f"http://127.0.0.1:{media.port}/slow.jpg", policy) == "could not be reached"
    assert time.monotonic() - started < 0.9


def test_a_name_that_does_not_resolve(names: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    def nowhere(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nowhere)
    message = refusal("http://nowhere.test/ok.jpg", MediaPolicy(allow_http=True))
    assert message == "could not be reached"


def test_http_is_refused_where_not_allowed(media: MediaServer) -> None:
    policy = MediaPolicy(allow_http=False, allowed_private_hosts=frozenset({f"127.0.0.1:{media.port}"}))
    assert refusal(f"http://127.0.0.1:{media.port}/ok.jpg", policy) == "must use https"
    assert media.seen == []


# --- https: connected by address, verified by name -----------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a certificate for media.test only."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)

    def certificate(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: str,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("media.test")]), critical=False
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("preflight test CA", ca_key, "preflight test CA", ca_key, ca=True)
    leaf = certificate("media.test", leaf_key, "preflight test CA", ca_key, ca=False)
    pki = Pki(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pki


@pytest.fixture
def tls_media(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]
) -> Iterator[MediaServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))  # the client trusts the test CA
    names.update({"media.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with MediaServer(context) as server:
        yield server


def test_https_connects_to_the_address_and_verifies_the_name(
    tls_media: MediaServer, connects: list[Any]
) -> None:
    hosts = frozenset({f"media.test:{tls_media.port}", f"other.test:{tls_media.port}"})
    policy = MediaPolicy(allow_http=False, allowed_private_hosts=hosts)
    url = f"https://media.test:{tls_media.port}/ok.jpg"
    assert preflight(url, policy) == MediaInfo(url, "image/jpeg", JPEG)
    assert connects == [("127.0.0.1", tls_media.port)]
    assert tls_media.seen[0].headers["host"] == f"media.test:{tls_media.port}"
    # The same server under a name its certificate does not carry.
    message = refusal(f"https://other.test:{tls_media.port}/ok.jpg", policy)
    assert message == "could not be reached"


def test_plain_http_to_a_tls_service_is_the_same_one_reason(tls_media: MediaServer) -> None:
    policy = MediaPolicy(allow_http=True, allowed_private_hosts=frozenset({f"media.test:{tls_media.port}"}))
    assert refusal(f"http://media.test:{tls_media.port}/ok.jpg", policy) == "could not be reached"
    assert tls_media.seen == []


# --- the Sinch simulator's samples ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SinchSimulator]:
    simulator = SinchSimulator(port=0, service_plan_id="p", api_token="t").start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim_policy(sim: SinchSimulator) -> MediaPolicy:
    return MediaPolicy(allow_http=True, allowed_private_hosts=frozenset({sim.url.removeprefix("http://")}))


def test_simulator_sample_passes(sim: SinchSimulator, sim_policy: MediaPolicy) -> None:
    url = f"{sim.url}/_sim/media/sample.jpg"
    info = preflight(url, sim_policy)
    assert (info.url, info.content_type, info.content_length) == (url, "image/jpeg", 2048)
    assert info.body.startswith(b"\xff\xd8") and info.body.endswith(b"\xff\xd9")  # the JPEG itself


@pytest.mark.parametrize("name", ["sample.png", "sample.gif", "sample.mp4", "sample.mp3"])
def test_simulator_other_samples_pass(name: str, sim: SinchSimulator, sim_policy: MediaPolicy) -> None:
    assert preflight(f"{sim.url}/_sim/media/{name}", sim_policy).content_length > 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("too-large.jpg", f"is {MAX + 1024} bytes; the limit is {MAX} bytes"),
        ("no-length.jpg", "has no Content-Length (chunked transfer is not accepted by Sinch)"),
        ("wrong-type.jpg", "has an unsupported Content-Type application/octet-stream"),
        ("nope.jpg", "answered HTTP 404"),
    ],
)
def test_simulator_bad_samples_are_refused(
    name: str, message: str, sim: SinchSimulator, sim_policy: MediaPolicy
) -> None:
    assert refusal(f"{sim.url}/_sim/media/{name}", sim_policy) == message


def test_simulator_is_forbidden_without_the_allowlist(sim: SinchSimulator) -> None:
    message = refusal(f"{sim.url}/_sim/media/sample.jpg", MediaPolicy(allow_http=True))
    assert message.startswith("resolves to a forbidden address")
