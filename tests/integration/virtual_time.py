"""A clock for playing many concurrent calls deterministically: each call runs in a thread of its
own (as each Lambda container runs one call), one at a time, and the clock moves only when
every call is asleep, jumping to the earliest end of a sleep. So a call that sleeps for its slot
lets the others run meanwhile, as on a real clock, but nothing depends on the machine's speed."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable


class Stopped(BaseException):
    """Ends a call still asleep when the play is over."""


class VirtualTime:
    def __init__(self, start: float) -> None:
        self.now = start
        self._lock = threading.Condition()
        self._wakeups: list[tuple[float, int, threading.Event]] = []
        self._order = itertools.count()
        self._running = 0
        self._stopped = False
        self.errors: list[BaseException] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """From a call's thread: let the others run until the clock has moved on `seconds`."""
        wake = self._enqueue(self.now + max(0.0, seconds))
        with self._lock:
            self._running -= 1
            self._lock.notify_all()
        wake.wait()
        if self._stopped:
            raise Stopped

    def start(self, at: float, call: Callable[[], None]) -> None:
        """Run `call` in a thread of its own when the clock reaches `at`."""
        wake = self._enqueue(at)

        def run() -> None:
            wake.wait()
            try:
                if not self._stopped:
                    call()
            except Stopped:
                pass
            except BaseException as exc:  # reported by run_until's caller
                self.errors.append(exc)
            finally:
                with self._lock:
                    self._running -= 1
                    self._lock.notify_all()

        threading.Thread(target=run, daemon=True).start()

    def run_until(self, end: float) -> None:
        """Move the clock on, call by call, until nothing is due before `end`."""
        while True:
            with self._lock:
                while self._running > 0:
                    self._lock.wait()
                if not self._wakeups or self._wakeups[0][0] >= end:
                    self.now = max(self.now, end)
                    return
                at, _, wake = heapq.heappop(self._wakeups)
                self.now = max(self.now, at)
                self._running += 1
            wake.set()

    def stop(self) -> None:
        """End every call still waiting."""
        with self._lock:
            self._stopped = True
            pending, self._wakeups = self._wakeups, []
        for _, _, wake in pending:
            wake.set()

    def _enqueue(self, at: float) -> threading.Event:
        wake = threading.Event()
        with self._lock:
            heapq.heappush(self._wakeups, (at, next(self._order), wake))
        return wake
