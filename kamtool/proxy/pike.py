"""Flood detection per source address, with the semantics of Kamailio's pike module.

:class:`FloodDetector` is sans-clock: every call that needs the time gets ``now``
(seconds, any monotonic clock) and the owner calls :meth:`FloodDetector.swap` every
``sampling_time_unit`` and :meth:`FloodDetector.expire` when :meth:`next_expiry` is due.
:class:`Pike` binds one to the proxy's :class:`~kamtool.proxy.timers.TimerHeap`.

How pike counts (and so how we count, so that the same flood is cut at the same request):

* Addresses live in a tree, one level per address byte. A source is first counted on the
  node of its longest known prefix; a prefix node whose hits in the current or previous
  unit (or their mean) reach ``max_hits / 4`` grows a child for the next byte, which
  inherits the parent's hits minus one. Only when the whole address has a node (an *IP
  leaf*) are its own hits counted, so a fresh IPv4 source is cut after about
  ``max_hits + 52`` requests in one unit, a source whose /24 is already busy after
  ``max_hits``; Kamailio's docs put the real limit between ``max_hits`` and 3x that.
* Hits are kept for the current and the previous sampling unit; every unit they shift.
  A leaf is HOT (blocked) while its hits in either unit, or their mean, reach
  ``max_hits``; it turns un-hot at the first shift where that no longer holds. Being
  newly HOT is reported once (:attr:`Verdict.NEW_BLOCK`), later hits while hot are
  :attr:`Verdict.BLOCKED`.
* A node is forgotten ``remove_latency`` seconds after its last hit (a leaf is
  refreshed on every hit; a quiet prefix node is not, so it goes even under light
  traffic); a prefix whose last child goes waits ``remove_latency`` more itself.

Where we deliberately differ from Kamailio 5.6 (each a bug there):

* ``reqs_density_per_unit`` is stored in a 16-bit field: 65536 + n behaves as n (the
  benchmark saw 1000000 act as 16960), 65535 never blocks. We take the number as given.
* IPv4 and IPv6 addresses share one tree there, so ``2001:db8::1`` counts towards
  ``32.1.13.184``'s prefix. We keep one tree per address family.
* ``pike.top WARM`` lists nothing there (only HOT and ALL are handled); we list the
  WARM leaves. Leaves that are neither are reported with status ``""`` as Kamailio does.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import math
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["FloodDetector", "Pike", "TopEntry", "Verdict"]

log = logging.getLogger(__name__)

HOT = "HOT"
WARM = "WARM"
COLD = ""  # Kamailio prints an empty status for a leaf that is neither hot nor warm


class Verdict(enum.Enum):
    """The outcome of one :meth:`FloodDetector.hit` (``pike_check_req``)."""

    OK = 1  # below the limit
    NEW_BLOCK = -2  # this request made the source HOT: log it, ban it
    BLOCKED = -1  # the source was already HOT

    @property
    def blocked(self) -> bool:
        return self is not Verdict.OK


@dataclass(frozen=True, slots=True)
class TopEntry:
    """One IP leaf as ``pike.top`` shows it."""

    ip_addr: str
    leaf_hits_prev: int
    leaf_hits_curr: int
    expires: int  # whole seconds until the node is forgotten
    status: str  # "HOT", "WARM" or ""


class _Node:
    __slots__ = (
        "byte",
        "expires",
        "hits_curr",
        "hits_prev",
        "ip_leaf",
        "kids",
        "leaf_curr",
        "leaf_prev",
        "parent",
        "red",
    )

    def __init__(self, byte: int, parent: _Node | None) -> None:
        self.byte = byte
        self.parent = parent
        self.kids: dict[int, _Node] = {}
        self.hits_prev = self.hits_curr = 0  # requests counted on this prefix
        self.leaf_prev = self.leaf_curr = 0  # requests of exactly this address
        self.ip_leaf = False
        self.red = False
        self.expires = 0.0


class FloodDetector:
    """Kamailio pike's address tree (see the module docstring); no clock, no I/O.

    ``max_hits`` is ``reqs_density_per_unit``, ``remove_latency`` seconds.
    """

    def __init__(self, max_hits: int = 200, remove_latency: float = 4.0) -> None:
        if max_hits < 1:
            raise ValueError("max_hits must be at least 1")
        if remove_latency <= 0:
            raise ValueError("remove_latency must be positive")
        self.max_hits = max_hits
        self.remove_latency = remove_latency
        self._roots: dict[int, dict[int, _Node]] = {4: {}, 16: {}}  # per address length
        # Nodes that can expire (tree leaves and IP leaves), oldest deadline first: every
        # deadline is "last touch + remove_latency", so touch order is deadline order.
        self._timer: OrderedDict[int, _Node] = OrderedDict()

    # ---------------------------------------------------------------- thresholds

    def _hot_prefix(self, n: _Node) -> bool:
        limit = self.max_hits >> 2
        return (
            n.hits_prev >= limit
            or n.hits_curr >= limit
            or (n.hits_prev + n.hits_curr) >> 1 >= limit
        )

    def _hot_leaf(self, n: _Node) -> bool:
        limit = self.max_hits
        return (
            n.leaf_prev >= limit
            or n.leaf_curr >= limit
            or (n.leaf_prev + n.leaf_curr) >> 1 >= limit
        )

    def _warm(self, n: _Node) -> bool:
        return n.hits_curr >= self.max_hits >> 2

    def _status(self, n: _Node) -> str:
        if self._hot_leaf(n):
            return HOT
        return WARM if self._warm(n) else COLD

    # ---------------------------------------------------------------- timer list

    def _arm(self, n: _Node, now: float) -> None:
        n.expires = now + self.remove_latency
        self._timer[id(n)] = n
        self._timer.move_to_end(id(n))

    def _disarm(self, n: _Node) -> None:
        self._timer.pop(id(n), None)

    # ---------------------------------------------------------------- counting

    def hit(self, ip: str | bytes, now: float) -> Verdict:
        """Count one request from ``ip`` (text or packed 4/16 bytes) at ``now``."""
        key = ip if isinstance(ip, bytes) else _packed(ip)
        kids = self._roots.setdefault(len(key), {})
        node: _Node | None = None
        pos = 0
        while pos < len(key):
            kid = kids.get(key[pos])
            if kid is None:
                break
            node, kids, pos = kid, kid.kids, pos + 1

        if node is None:  # nothing of this address yet: a node for its first byte
            node = _Node(key[0], None)
            node.hits_curr = 1
            kids[key[0]] = node
            self._arm(node, now)
            return Verdict.OK

        if pos == len(key):  # the whole address is known: count it as itself
            node.ip_leaf = True
            node.leaf_curr += 1
            self._arm(node, now)
            if node.red:
                return Verdict.BLOCKED
            if self._hot_leaf(node):
                node.red = True
                return Verdict.NEW_BLOCK
            return Verdict.OK

        # Only a prefix is known: count it there and, when it is busy, grow the next
        # byte. A prefix hit never refreshes the prefix's own deadline (pike refreshes
        # only warm ones, and warm implies busy), so quiet prefixes expire and free memory.
        node.hits_curr += 1
        if self._hot_prefix(node):
            child = _Node(key[pos], node)
            child.hits_curr = node.hits_curr - 1
            if not node.kids:  # from now on its children expire, then it does
                self._disarm(node)
            node.kids[key[pos]] = child
            self._arm(child, now)
        return Verdict.OK

    def swap(self) -> list[str]:
        """Start a new sampling unit; returns the addresses that stopped being HOT."""
        cooled: list[str] = []
        for prefix, node in self._walk():
            node.hits_prev, node.hits_curr = node.hits_curr, 0
            node.leaf_prev, node.leaf_curr = node.leaf_curr, 0
            if node.red and not self._hot_leaf(node):
                node.red = False
                cooled.append(_text(prefix))
        return cooled

    def next_expiry(self) -> float | None:
        """When :meth:`expire` next has something to do (None: the tree is empty)."""
        for node in self._timer.values():
            return node.expires
        return None

    def expire(self, now: float) -> int:
        """Forget the nodes whose ``remove_latency`` has passed; returns how many."""
        gone = 0
        while self._timer:
            node = next(iter(self._timer.values()))
            if node.expires > now:
                break
            self._timer.popitem(last=False)
            dad = node.parent
            if dad is None:
                del self._roots_of(node)[node.byte]
            else:
                del dad.kids[node.byte]
                if not dad.kids and not dad.ip_leaf:  # the last child: the prefix may go
                    self._arm(dad, now)
            gone += 1
        return gone

    def _roots_of(self, node: _Node) -> dict[int, _Node]:
        for roots in self._roots.values():
            if roots.get(node.byte) is node:
                return roots
        raise KeyError(node.byte)

    # ---------------------------------------------------------------- reporting

    def _walk(self) -> Iterator[tuple[bytes, _Node]]:
        for roots in self._roots.values():
            stack = [(bytes([b]), n) for b, n in roots.items()]
            while stack:
                prefix, node = stack.pop()
                yield prefix, node
                stack.extend((prefix + bytes([b]), k) for b, k in node.kids.items())

    def top(self, status: str, now: float) -> list[TopEntry]:
        """IP leaves for ``pike.top``: ``status`` is ``"HOT"``, ``"WARM"`` or ``"ALL"``."""
        out: list[TopEntry] = []
        for prefix, node in sorted(self._walk(), key=lambda pn: (len(pn[0]), pn[0])):
            if not node.ip_leaf:
                continue
            state = self._status(node)
            if status != "ALL" and state != status:
                continue
            out.append(
                TopEntry(
                    _text(prefix),
                    node.leaf_prev,
                    node.leaf_curr,
                    max(0, math.ceil(node.expires - now)),
                    state,
                )
            )
        return out

    def __len__(self) -> int:
        """Nodes in the tree (memory in use)."""
        return sum(1 for _ in self._walk())


def _packed(ip: str) -> bytes:
    """The address bytes (ValueError if ``ip`` is none); an IPv6 zone (``%eth0``) is
    ignored. inet_pton, not ipaddress: this runs for every request."""
    try:
        if ":" in ip:
            return socket.inet_pton(socket.AF_INET6, ip.partition("%")[0])
        return socket.inet_pton(socket.AF_INET, ip)
    except OSError as exc:
        raise ValueError(f"not an IP address: {ip!r}") from exc


def _text(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


class Pike:
    """A :class:`FloodDetector` on the proxy's timer heap (the ``pike`` module).

    ``check(ip)`` is ``pike_check_req()``; ``top(status)`` and ``max_hits`` feed
    ``pike.top``; ``blocked_ips`` is the statistic ``pike:blocked_ips`` (a
    :class:`~kamtool.proxy.stats.Statistics` counter, or None).
    """

    def __init__(
        self,
        timers: Any,
        *,
        reqs_density_per_unit: int = 200,
        sampling_time_unit: float = 2.0,
        remove_latency: float = 4.0,
        blocked_ips: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if sampling_time_unit <= 0:
            raise ValueError("sampling_time_unit must be positive")
        self.detector = FloodDetector(reqs_density_per_unit, remove_latency)
        self.timers = timers
        self.unit = sampling_time_unit
        self.blocked_ips = blocked_ips
        self._now = clock or timers.now
        self._swap_timer = timers.call_later(self.unit, self._swap)
        self._expiry_timer: Any = None

    @property
    def max_hits(self) -> int:
        return self.detector.max_hits

    def check(self, ip: str) -> Verdict:
        """Count a request from ``ip``; a :attr:`Verdict.NEW_BLOCK` bumps blocked_ips."""
        try:
            verdict = self.detector.hit(ip, self._now())
        except ValueError:  # not an IP address (cannot happen from a socket): let it pass
            log.debug("pike: cannot count source %r", ip)
            return Verdict.OK
        if verdict is Verdict.NEW_BLOCK and self.blocked_ips is not None:
            self.blocked_ips.value += 1
        if self._expiry_timer is None:
            self._schedule_expiry()
        return verdict

    def top(self, status: str) -> list[TopEntry]:
        return self.detector.top(status, self._now())

    def _swap(self) -> None:
        for ip in self.detector.swap():
            log.info("pike: %s is no longer over the limit", ip)
        self._swap_timer = self.timers.call_later(self.unit, self._swap)

    def _schedule_expiry(self) -> None:
        due = self.detector.next_expiry()
        self._expiry_timer = None if due is None else self.timers.call_at(due, self._expire)

    def _expire(self) -> None:
        self.detector.expire(self._now())
        self._schedule_expiry()

    def close(self) -> None:
        """Stop the timers (the heap's close does it too at shutdown)."""
        for t in (self._swap_timer, self._expiry_timer):
            if t is not None:
                t.cancel()
