"""The simulator in a process of its own: it says why when it cannot start, and it never outlives
the stack that started it, even one killed without a chance to stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from devstack.sinch_process import SimulatorProcess
from devstack.state import REPO_ROOT

PARENT = """
from devstack.sinch_process import SimulatorProcess
sim = SimulatorProcess(lambda line: None, host="127.0.0.1", port=0).start()
print(sim._process.pid, flush=True)
import time
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_simulator_whose_stack_is_killed_stops_too() -> None:
    parent = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-c", PARENT], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        simulator_pid = int(parent.stdout.readline())
        assert _alive(simulator_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while _alive(simulator_pid):
            assert time.monotonic() < deadline, "the simulator outlived the stack that started it"
            time.sleep(0.1)
    finally:
        parent.kill()
        parent.wait()


def test_a_simulator_that_cannot_start_says_what_it_printed() -> None:
    with pytest.raises(RuntimeError) as failed:
        SimulatorProcess(lambda line: None, host="127.0.0.1", port=-1).start()
    message = str(failed.value)
    assert message.startswith("the Sinch simulator did not start; it printed:")
    assert "Traceback" in message or "Error" in message


def test_the_simulator_starts_with_a_secret_that_begins_with_a_dash() -> None:
    # secrets.token_urlsafe begins with "-" once in 64 draws: passed as a separate argument, the
    # command-line parser took it for an option, and the local stack did not start.
    lines: list[str] = []
    simulator = SimulatorProcess(lines.append, host="127.0.0.1", port=0, webhook_secret="-ZEaBm_q9sXc")
    try:
        simulator.start()
        assert simulator.url.startswith("http://127.0.0.1:"), lines
    finally:
        simulator.stop()
