import socket

import pytest


def test_a_connection_off_this_machine_is_refused_before_it_leaves() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(RuntimeError, match=r"127\.0\.0\.1"),
    ):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: reserved for documentation
