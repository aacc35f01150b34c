"""Expiry buckets: which contacts fall due, without walking all of them.

usrloc's timer used to look at every contact every ``timer_interval`` to find the expired
ones: at 100,000 contacts that held the event loop ~0.2 s every 10 s. Here a contact's
key (its ruid) sits in the bucket of the whole second it expires in, and a
min-heap orders the buckets, so a timer tick costs O(due + log buckets) and a refresh
O(1): it moves the key from one bucket to another.
"""

from __future__ import annotations

import heapq
from math import floor


class ExpiryBuckets:
    """Keys (with a value each, e.g. ruid -> AoR) grouped by their expiry second.

    The caller passes the deadline a key was added with when it moves or removes the key
    (usrloc knows it: the binding being replaced carries it), so no per-key index is
    kept. A bucket emptied by removals stays until it falls due (its second is in the
    heap once), then goes. A due bucket may hold keys that expire later within its
    second: the caller checks each key's own deadline and adds the early ones again.
    """

    __slots__ = ("_buckets", "_heap", "_count")

    def __init__(self) -> None:
        self._buckets: dict[int, dict[str, str]] = {}
        self._heap: list[int] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, key: str, value: str, deadline: float) -> None:
        """Remember ``key`` until ``deadline`` (unix time; 0 = never: not kept)."""
        if not deadline:
            return
        second = floor(deadline)
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = {}
            heapq.heappush(self._heap, second)
        if key not in bucket:
            self._count += 1
        bucket[key] = value

    def remove(self, key: str, deadline: float) -> None:
        """Forget ``key``, added with ``deadline`` (no error when it is not there)."""
        if not deadline:
            return
        bucket = self._buckets.get(floor(deadline))
        if bucket is not None and bucket.pop(key, None) is not None:
            self._count -= 1

    def due(self, now: float) -> bool:
        """True when a bucket has fallen due at ``now``."""
        return bool(self._heap) and self._heap[0] <= now

    def pop_due(self, now: float, limit: int = 0) -> list[tuple[str, str]]:
        """The ``(key, value)`` pairs whose deadline's second has begun at ``now`` (some
        may expire up to a second later: see the class docstring); they are forgotten.
        ``limit``: stop after the bucket that reaches it (the rest stays due)."""
        due: list[tuple[str, str]] = []
        heap, buckets = self._heap, self._buckets
        while heap and heap[0] <= now and not (limit and len(due) >= limit):
            bucket = buckets.pop(heapq.heappop(heap))
            due.extend(bucket.items())
        self._count -= len(due)
        return due

    def clear(self) -> None:
        self._buckets.clear()
        self._heap.clear()
        self._count = 0
