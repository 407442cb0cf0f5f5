"""The local stack's terminal takes whole lines from many threads (gateway, runtime, pollers)."""

import json
import sys
import threading
import time

import pytest

from devstack.console import print_line


class SlowTerminal:
    """A stdout that gives other threads the chance to write between any two calls, as a busy
    machine does now and then."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        time.sleep(0.0005)
        self.text += text
        return len(text)

    def flush(self) -> None:
        return None


def test_lines_printed_from_many_threads_stay_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = SlowTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)

    def emit(thread: int) -> None:
        for n in range(40):
            print_line("[api] " + json.dumps({"thread": thread, "n": n}))

    threads = [threading.Thread(target=emit, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = terminal.text.splitlines()
    assert len(lines) == 6 * 40
    assert all(json.loads(line.removeprefix("[api] ")) for line in lines)
