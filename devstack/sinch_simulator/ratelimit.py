"""Requests per second per service plan, over a sliding one-second window."""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_S = 1.0


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}

    def allow(self, key: str, limit: float | None) -> bool:
        """True when one more request fits. A fractional limit rounds down, but at least 1 passes."""
        if limit is None:
            return True
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - WINDOW_S:
                window.popleft()
            if len(window) >= max(1, int(limit)):
                return False  # refused requests do not count: a client backing off gets through
            window.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()
