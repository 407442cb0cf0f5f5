"""The local stack's one terminal: every part (the gateway's access log, the functions' log lines,
the pollers) prints to it from its own thread."""

from __future__ import annotations

import sys
import threading

_lock = threading.Lock()


def print_line(line: str) -> None:
    """One whole line per write: `print` writes the text and its newline apart, so another thread's
    line could land between them, gluing two JSON log lines into one that no reader can parse."""
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
