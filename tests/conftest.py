"""Suite-wide rules."""

import ipaddress
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from hypothesis import settings
from moto.server import ThreadedMotoServer

from devstack.dynamodb_limits import enforce_item_size
from devstack.sinch_simulator import SinchSimulator

# Hypothesis's per-example deadline is a timing: on a loaded machine (CI, or 2 cores shared) it
# fails examples that are merely slow. What the properties check is behaviour, never speed.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        if not ipaddress.ip_address(host).is_loopback:
            raise RuntimeError(f"tests must only talk to 127.0.0.1; tried {host}")


def _guarded_connect(sock: socket.socket, address: Any) -> None:
    _check(sock, address)
    _connect(sock, address)


def _guarded_connect_ex(sock: socket.socket, address: Any) -> int:
    _check(sock, address)
    return _connect_ex(sock, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Every connection this test process opens goes to the loopback interface, nowhere else."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
    yield
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """moto in server mode. Its state is per process: tests use names of their own."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    enforce_item_size()  # DynamoDB's item limit, as the local stack's moto has it
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=10)
    yield pool
    pool.clear()


def control(
    sim: SinchSimulator, http: urllib3.PoolManager, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """A call to the simulator's /_sim control API: (status, JSON)."""
    resp = http.request(method, sim.url + path, body=None if body is None else json.dumps(body))
    return resp.status, resp.json() if resp.data else None
