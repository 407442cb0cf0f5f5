"""Append-only, thread-safe logs of JSON entries (requests received, callbacks sent)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

# A long benchmark must not grow the simulator without bound; tests never come near this.
MAX_ENTRIES = 50_000


class Log:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._entries.append(entry)
        return entry

    def update(self, entry: dict[str, Any], **values: Any) -> None:
        with self._lock:
            entry.update(values)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
