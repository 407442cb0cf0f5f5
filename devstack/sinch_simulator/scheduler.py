"""Runs work later on a small thread pool: deliveries, callbacks and their retries."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class Scheduler:
    """A timer thread hands due tasks to a pool, so one slow callback receiver delays no one else.

    `clear()` (the simulator's reset) drops everything scheduled before it, including follow-ups
    that a task already running at that moment schedules: tasks carry the generation they belong to.
    """

    def __init__(self, workers: int = 16) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._generation = 0
        self._current = threading.local()
        self._stopped = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sim-worker")
        self._timer = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)
        self._timer.start()

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> None:
        generation = getattr(self._current, "generation", None)
        with self._cond:
            if self._stopped:
                return
            entry = (
                time.monotonic() + max(0.0, delay_s),
                next(self._seq),
                self._generation if generation is None else generation,
                fn,
                args,
            )
            heapq.heappush(self._heap, entry)
            self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self._generation += 1

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._generation += 1
            self._cond.notify()
        self._timer.join(timeout=2)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, generation, fn, args = heapq.heappop(self._heap)
                self._pool.submit(self._call, generation, fn, args)

    def _call(self, generation: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if generation != self._generation:  # scheduled before a reset
            return
        self._current.generation = generation
        try:
            fn(*args)
        except Exception:  # a bug in one task must not kill the worker or go unseen
            log.exception("simulator task %s failed", getattr(fn, "__qualname__", fn))
        finally:
            self._current.generation = None
