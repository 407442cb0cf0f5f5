"""The threads of an event source mapping's pollers: each polls until asked to stop, and a poll that
fails is logged and tried again a second later, as Lambda keeps polling through errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from devstack.console import print_line

# One step of a poller: poll once, and say how long to pause before the next (0: at once).
Step = Callable[[], float]
FAILED_POLL_PAUSE_S = 1.0


class PollingThreads:
    def __init__(self, label: str, log: Callable[[str], None] | None = None) -> None:
        self._label = label  # names the poller in its log lines, e.g. "sqs:QueueFunction"
        self._log = log or print_line
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _spawn(self, name: str, step: Step) -> None:
        thread = threading.Thread(target=self._keep_polling, args=(step,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _keep_polling(self, step: Step) -> None:
        pause = 0.0
        while not self._stop.wait(pause):
            try:
                pause = step()
            except Exception as exc:  # keep polling, but say why
                if self._stop.is_set():
                    return
                self._log(f"[{self._label}] polling failed: {type(exc).__name__}: {exc}")
                pause = FAILED_POLL_PAUSE_S

    def request_stop(self) -> None:
        """Ask the pollers to finish what they hold and stop (see :meth:`stop`)."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
