"""Messages per second per service plan, over a sliding one-second window."""

from __future__ import annotations

import threading
import time

WINDOW_S = 1.0


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per key: (when it leaves the window, how many messages it counted).
        self._windows: dict[str, list[tuple[float, int]]] = {}

    def allow(self, key: str, limit: float | None, messages: int = 1) -> bool:
        """True when `messages` more fit in the window (a call to 500 recipients is 500 messages,
        as Sinch counts them). A fractional limit rounds down, but at least 1 passes.

        A call for more messages than a whole second's limit passes only into an empty window, and
        then fills it for messages / limit seconds: the mean rate stays the limit."""
        if limit is None:
            return True
        cap = max(1, int(limit))
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key, [])
            window[:] = [entry for entry in window if entry[0] > now]
            used = sum(count for _, count in window)
            if window and used + messages > cap:
                return False  # refused requests do not count: a client backing off gets through
            window.append((now + WINDOW_S * max(1.0, messages / cap), messages))
            return True

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()
