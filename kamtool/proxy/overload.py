"""Overload protection: how old is the request we are about to serve?

The proxy is one asyncio process. Offered more than it can serve, the surplus waits in
the kernel's UDP receive buffer (4 MB, see :mod:`kamtool.proxy.transport`) and is worked
through in order, long after its client has retransmitted (T1 = 500 ms) or given up: the
proxy stays busy with stale work and answers late well after the burst.

Event-loop lag does not show this: asyncio reads one datagram per socket per loop pass, so
timers keep firing on time while the backlog grows. What does show it is the *queue age*
(the sojourn time of CoDel): every ``probe_interval`` the guard sends a small datagram,
stamped with the time, to each UDP listener from a socket of its own; it queues behind
whatever is waiting, and when the engine's sink sees it (:meth:`OverloadGuard.wrap`) its age
is how long a request now waits before we look at it. Ten tiny datagrams a second, no
/proc reading, no system call per request.

When two probes in a row are older than ``max_age`` the proxy is overloaded (one old
probe is only a stall: the loop or the process was held up once, GC or a busy machine, and
the queue behind it is short; the probe sent after it comes through young). Then the
route (``KSR.kamtool.refuse_new()``) answers new initial requests (not ACK, not CANCEL,
not in-dialog requests, not responses, not retransmissions of transactions it already
has) with a stateless
``503 Service Unavailable`` and a ``Retry-After`` (RFC 3261 21.5.4, RFC 6357 section 5: a
cheap rejection keeps the server doing useful work; well-behaved UACs back off and may try
another server). The episode ends when the age is under half of ``max_age`` again
(hysteresis, so the state does not flap at the threshold). Each episode is logged once when
it starts and once when it ends; ``overload:*`` counters (``/metrics``) count the episodes
and the rejected requests.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# a probe can never be taken for SIP: SIP messages start with a method or "SIP/2.0"
PROBE_MAGIC = b"\x00kamtool-queue-age\x00"
_STAMP = struct.Struct("!d")
PROBE_LEN = len(PROBE_MAGIC) + _STAMP.size


class OverloadGuard:
    """Measures the receive queue's age and says whether the proxy is overloaded.

    ``max_age``: seconds a request may wait before the proxy counts as overloaded;
    ``retry_after``: the Retry-After (seconds) of the 503; ``clock``: a monotonic clock.
    """

    def __init__(
        self,
        stats: Any,
        *,
        max_age: float = 0.5,
        retry_after: int = 5,
        probe_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self.retry_after = retry_after
        self.probe_interval = probe_interval
        self.clock = clock
        self.overloaded = False
        self.age = 0.0  # the last queue age measured, seconds
        self._since = 0.0  # when the current episode started
        self._socks: dict[int, socket.socket] = {}
        self._targets: list[tuple[socket.socket, tuple[str, int]]] = []
        self._handle: Any = None
        self._old = 0  # consecutive probes older than max_age (outside an episode)
        self._loop: Any = None
        c = stats.counter
        self.c_rejected = c("overload", "rejected_requests")
        self.c_episodes = c("overload", "episodes")
        stats.gauge("overload", "active", lambda: int(self.overloaded))
        stats.gauge("overload", "queue_age_ms", lambda: int(self.age * 1000))

    # ------------------------------------------------------------------ probing

    def start(self, loop: Any, targets: list[tuple[str, int]]) -> None:
        """Probe the UDP listeners ``targets`` (host, port) every ``probe_interval``."""
        if not targets:
            return
        self._loop = loop
        for host, port in targets:  # a socket per address family (IPv4 and IPv6 listeners)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            if family not in self._socks:
                self._socks[family] = socket.socket(family, socket.SOCK_DGRAM)
                self._socks[family].setblocking(False)
            self._targets.append((self._socks[family], (host, port)))
        self._tick()

    def stop(self) -> None:
        """Stop probing and close the probe socket."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
        self._targets.clear()

    def _tick(self) -> None:
        stamp = PROBE_MAGIC + _STAMP.pack(self.clock())
        for sock, target in self._targets:
            try:
                sock.sendto(stamp, target)
            except OSError:  # a full buffer is overload too: the next probe tells
                pass
        self._handle = self._loop.call_later(self.probe_interval, self._tick)

    def wrap(self, sink: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
        """The transport sink with probes taken out (everything else goes on to ``sink``)."""

        def guarded(data: Any, endpoint: Any, addr: Any) -> None:
            if (
                data.__class__ is bytes
                and len(data) == PROBE_LEN
                and data[0] == 0
                and data.startswith(PROBE_MAGIC)
            ):
                self.measured(self.clock() - _STAMP.unpack_from(data, len(PROBE_MAGIC))[0])
                return
            sink(data, endpoint, addr)

        return guarded

    # ------------------------------------------------------------------ state

    def measured(self, age: float) -> None:
        """A probe came through after ``age`` seconds in the queue: update the state."""
        self.age = age
        if not self.overloaded:
            self._old = self._old + 1 if age > self.max_age else 0
        if not self.overloaded and self._old >= 2:
            self._old = 0
            self.overloaded = True
            self._since = self.clock()
            self.c_episodes.value += 1
            log.warning(
                "overload: requests wait %.0f ms before they are served (limit %.0f ms); "
                "answering new requests 503 until it drains",
                age * 1000,
                self.max_age * 1000,
            )
        elif self.overloaded and age < self.max_age / 2:
            self.overloaded = False
            log.warning(
                "overload over after %.1f s; %d requests rejected so far",
                self.clock() - self._since,
                self.c_rejected.value,
            )

    def reject_headers(self) -> list[tuple[str, str]]:
        """The headers of the 503 (counted as one rejection)."""
        self.c_rejected.value += 1
        return [("Retry-After", str(self.retry_after))]
