"""One timer heap for the whole proxy, re-armed with a single ``loop.call_at``.

Every transaction, registration and dialog timer goes into this heap instead of its own
asyncio handle or task: scheduling and cancelling stay O(log n) with a few small objects,
and the event loop only ever holds one timer for the proxy. Cancelled entries are dropped
lazily when they reach the top (or in bulk when they pile up).

The clock is ``loop.time()`` (monotonic); the sans-IO core receives it as ``now``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Timer:
    """A scheduled call; ``cancel()`` it when it is no longer wanted."""

    __slots__ = ("args", "cancelled", "fn", "seq", "when")

    def __init__(self, when: float, seq: int, fn: Callable[..., Any], args: tuple[Any, ...]):
        self.when = when
        self.seq = seq
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.fn = _noop  # drop references early
        self.args = ()

    def __lt__(self, other: Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


def _noop(*_: Any) -> None:
    pass


class TimerHeap:
    """Scheduler of callbacks at absolute ``loop.time()`` deadlines."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[Timer] = []
        self._seq = 0
        self._armed: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")
        self._closed = False

    def now(self) -> float:
        """The scheduler's clock (monotonic seconds)."""
        return self._loop.time()

    def __len__(self) -> int:
        return sum(1 for t in self._heap if not t.cancelled)

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run ``fn(*args)`` at ``when`` (loop time)."""
        self._seq += 1
        timer = Timer(when, self._seq, fn, args)
        heapq.heappush(self._heap, timer)
        if when < self._armed_at and not self._closed:
            self._arm(when)
        return timer

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        """Run ``fn(*args)`` after ``delay`` seconds."""
        return self.call_at(self._loop.time() + delay, fn, *args)

    def _arm(self, when: float) -> None:
        if self._armed is not None:
            self._armed.cancel()
        self._armed_at = when
        self._armed = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._armed = None
        self._armed_at = float("inf")
        heap = self._heap
        # Timers due "now" include those a hair in the future, as asyncio itself does.
        limit = self._loop.time() + 0.0005
        while heap and heap[0].when <= limit:
            timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            timer.cancelled = True
            try:
                timer.fn(*timer.args)
            except Exception:  # one faulty callback must not stop every other timer
                log.exception("timer callback %r failed", timer.fn)
        if len(heap) > 1024 and sum(t.cancelled for t in heap) > len(heap) // 2:
            self._heap = heap = [t for t in heap if not t.cancelled]
            heapq.heapify(heap)
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        if heap and not self._closed:
            self._arm(heap[0].when)

    def close(self) -> None:
        """Cancel everything (server shutdown)."""
        self._closed = True
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        for timer in self._heap:
            timer.cancel()
        self._heap.clear()
