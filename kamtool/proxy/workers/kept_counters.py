"""A worker's counters outlive its process.

Kamailio keeps its statistics in shared memory, so a child that dies takes none of the
counts with it. A kamtool worker counts in its own memory: without this, the worker the
supervisor starts again would count from 0, every summed counter would drop by what the
dead one had counted, and Prometheus would read a counter reset (the monitor logs
"statistics went back") although the service never stopped.

So each worker writes its counts (:meth:`~kamtool.proxy.stats.Statistics.counts`) to the
supervisor's private directory once a second, and the worker started in its place adds
them to its own before it writes. A worker killed with SIGKILL loses at most the last
second's counts; a worker that stops with the service leaves a file the next service does
not read (the directory goes with the supervisor).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from kamtool.proxy.workers import WorkerContext

log = logging.getLogger(__name__)

KEEP_EVERY = 1.0  # seconds between two writes of a worker's counts


class KeptCounters:
    """Writes ``stats``' counts for the worker ``ctx`` is, and reads its predecessor's."""

    def __init__(self, ctx: WorkerContext, stats: Any) -> None:
        self.path = os.path.join(ctx.rundir, f"counters-{ctx.index}.json")
        self.stats = stats
        self._timers: Any = None
        self._timer: Any = None
        self._last: dict[str, int] | None = None
        self._failing = False  # one log line for a directory we cannot write, not one a second

    def resume(self) -> int:
        """Add the counts the dead predecessor last wrote; how many counters it had."""
        try:
            with open(self.path, encoding="utf-8") as f:
                counts = json.load(f)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:  # (never torn: written by rename)
            log.warning("worker counters not carried over: %s", exc)
            return 0
        if not isinstance(counts, dict):
            return 0
        self.stats.carry(counts)
        return len(counts)

    def start(self, timers: Any) -> None:
        """Write now and then every :data:`KEEP_EVERY` seconds on ``timers``."""
        self._timers = timers
        self._keep()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _keep(self) -> None:
        counts = self.stats.counts()
        if counts != self._last:  # an idle worker writes nothing
            tmp = f"{self.path}.tmp"
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(counts, f, separators=(",", ":"))
                os.replace(tmp, self.path)  # whole or not at all, whenever we die
                self._last, self._failing = counts, False
            except OSError as exc:
                if not self._failing:
                    log.warning("worker counters not kept: %s", exc)
                self._failing = True
        self._timer = self._timers.call_later(KEEP_EVERY, self._keep)
