"""Kamailio-style statistics: named counters grouped by module, read the way Kamailio's
``stats.*`` RPC methods and kamailio_exporter read them.

Hot path: the proxy keeps the :class:`Counter` objects it bumps (``c.value += 1``); a
counter is a one-slot object, so a bump is one attribute store and nothing else.
Computed values (registered users, active dialogs, memory) are :meth:`Statistics.gauge`
functions called only when somebody reads them.

Reading follows Kamailio 5.6 (``rpc/stats.*.json`` in the reference captures):

* ``"all"`` → every statistic, groups and names in ASCII order;
* ``"group:"`` → the statistics of one group (an unknown or empty group gives nothing);
* ``"name"`` → the first statistic of that name in any group; kamtool also accepts
  ``"group:name"`` (Kamailio does not);
* anything unknown → nothing (the RPC answers ``[]``), never an error.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["DEFAULT_STATS", "NO_RESET", "Counter", "Statistics"]


class Counter:
    """One statistic the proxy bumps itself: ``c.value += 1``."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value


# core's per-class reply counters: all replies of the class, then per request method
_REPLY_SUFFIXES = (
    "",
    "_bye",
    "_cancel",
    "_invite",
    "_message",
    "_prack",
    "_refer",
    "_reg",
    "_update",
)

# Kamailio 5.6's default groups and names with the reference cfg's module set
# (stats.get_statistics.all.json). ``tm`` is registered but empty: tm counters live in tmx.
DEFAULT_STATS: dict[str, tuple[str, ...]] = {
    "core": (
        "bad_URIs_rcvd",
        "bad_msg_hdr",
        "drop_replies",
        "drop_requests",
        "err_replies",
        "err_requests",
        "fwd_replies",
        "fwd_requests",
        "rcv_replies",
        "rcv_replies_18x",
        *(
            f"rcv_replies_{cls}{suffix}"
            for cls in ("1xx", "2xx", "3xx")
            for suffix in _REPLY_SUFFIXES
        ),
        "rcv_replies_401",
        "rcv_replies_404",
        "rcv_replies_407",
        "rcv_replies_480",
        "rcv_replies_486",
        *(
            f"rcv_replies_{cls}{suffix}"
            for cls in ("4xx", "5xx", "6xx")
            for suffix in _REPLY_SUFFIXES
        ),
        "rcv_requests",
        *(
            f"rcv_requests_{m}"
            for m in (
                "ack",
                "bye",
                "cancel",
                "info",
                "invite",
                "message",
                "notify",
                "options",
                "prack",
                "publish",
                "refer",
                "register",
                "subscribe",
                "update",
            )
        ),
        "unsupported_methods",
    ),
    "dialog": (
        "active_dialogs",
        "early_dialogs",
        "expired_dialogs",
        "failed_dialogs",
        "processed_dialogs",
    ),
    "dns": ("failed_dns_request", "slow_dns_request"),
    "pike": ("blocked_ips",),
    "registrar": (
        "accepted_regs",
        "default_expire",
        "default_expires_range",
        "expires_range",
        "max_contacts",
        "max_expires",
        "rejected_regs",
    ),
    "shmem": (
        "fragments",
        "free_size",
        "max_used_size",
        "real_used_size",
        "total_size",
        "used_size",
    ),
    "sl": (
        "1xx_replies",
        "200_replies",
        "202_replies",
        "2xx_replies",
        "300_replies",
        "301_replies",
        "302_replies",
        "3xx_replies",
        "400_replies",
        "401_replies",
        "403_replies",
        "404_replies",
        "407_replies",
        "408_replies",
        "483_replies",
        "4xx_replies",
        "500_replies",
        "5xx_replies",
        "6xx_replies",
        "failures",
        "received_ACKs",
        "sent_err_replies",
        "sent_replies",
        "xxx_replies",
    ),
    "tcp": (
        "con_reset",
        "con_timeout",
        "connect_failed",
        "connect_success",
        "current_opened_connections",
        "current_write_queue_size",
        "established",
        "local_reject",
        "passive_open",
        "send_timeout",
        "sendq_full",
    ),
    "tm": (),
    "tmx": (
        "2xx_transactions",
        "3xx_transactions",
        "4xx_transactions",
        "5xx_transactions",
        "6xx_transactions",
        "UAC_transactions",
        "UAS_transactions",
        "active_transactions",
        "inuse_transactions",
        "rpl_absorbed",
        "rpl_generated",
        "rpl_received",
        "rpl_relayed",
        "rpl_sent",
    ),
    "usrloc": ("location_contacts", "location_expires", "location_users", "registered_users"),
}

# Statistics Kamailio declares STAT_NO_RESET: reset_statistics leaves them alone.
# The sl module's counters are kept per process and summed on read, so a reset does not
# touch them either (stats.get_statistics.sl.after_reset.json still shows old values).
NO_RESET: frozenset[tuple[str, str]] = frozenset(
    {
        ("registrar", "default_expire"),
        ("registrar", "default_expires_range"),
        ("registrar", "expires_range"),
        ("registrar", "max_contacts"),
        ("registrar", "max_expires"),
        ("tmx", "active_transactions"),
        ("tmx", "inuse_transactions"),
        ("dialog", "active_dialogs"),
        ("dialog", "early_dialogs"),
        ("tcp", "current_opened_connections"),
        ("tcp", "current_write_queue_size"),
        ("usrloc", "registered_users"),
        ("usrloc", "location_users"),
        ("usrloc", "location_contacts"),
        ("usrloc", "location_expires"),
        *(("sl", n) for n in DEFAULT_STATS["sl"]),
    }
)

Stat = Counter | Callable[[], int]


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return _max_rss_bytes()


#: cgroup files holding the memory limit of a cgroup (v2, v1), read under
#: :data:`CGROUP_ROOT` at the process's own cgroup path
CGROUP_ROOT = Path("/sys/fs/cgroup")
_NO_LIMIT = 1 << 62  # cgroup v1 writes "no limit" as a number near 2**63


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (systemd's MemoryMax=, a container's
    memory limit): the smallest on the way from its cgroup up to the root; None when
    none is set or cgroups are not mounted."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one unified hierarchy, memory.max
            base, name = CGROUP_ROOT, "memory.max"
            if not (base / "cgroup.controllers").exists():
                base = CGROUP_ROOT / "unified"
        elif "memory" in controllers.split(","):
            base, name = CGROUP_ROOT / "memory", "memory.limit_in_bytes"
        else:
            continue
        rel = Path(path.lstrip("/"))
        for directory in (rel, *rel.parents):
            try:
                text = (base / directory / name).read_text().strip()
            except OSError:
                continue
            if text.isdigit() and int(text) < _NO_LIMIT:
                limits.append(int(text))
    return min(limits) if limits else None


def _memory_ceiling_bytes() -> int:
    """What ``shmem:total_size`` reports: the most memory this process can use.

    Kamailio reports its shared memory pool (``-m``), a ceiling it cannot pass. A Python
    process has no pool; its ceiling is the smallest of: the cgroup's memory limit (the
    kernel stops it there), the address space limit (``ulimit -v``, RLIMIT_AS: resident
    memory never exceeds it) and the machine's physical memory. So ``real_used_size`` of
    ``total_size`` (the health check's ratio) says how close the proxy is to being
    stopped, as it does for Kamailio's pool.
    """
    ceilings = []
    try:
        ceilings.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError):
        pass
    address_space = resource.getrlimit(resource.RLIMIT_AS)[0]
    if address_space != resource.RLIM_INFINITY:
        ceilings.append(address_space)
    cgroup = _cgroup_limit()
    if cgroup is not None:
        ceilings.append(cgroup)
    return min(ceilings, default=0)


class Statistics:
    """All statistics of one proxy (or of a test).

    Starts with Kamailio's default groups and names, every one a zero :class:`Counter`,
    except ``shmem:*`` which report this process's memory (Python has no shared memory
    pool; RSS is the honest equivalent, of the ceiling :func:`_memory_ceiling_bytes`
    finds) and the registrar's configuration values.
    """

    def __init__(self, *, defaults: bool = True) -> None:
        self._groups: dict[str, dict[str, Stat]] = {}
        self._no_reset: set[tuple[str, str]] = set()
        self._settings: set[tuple[str, str]] = set()  # set_value's: not counts
        if defaults:
            for group, names in DEFAULT_STATS.items():
                self._groups[group] = {}
                for name in names:
                    self.counter(group, name)
            self._no_reset |= NO_RESET
            self.gauge("shmem", "used_size", _current_rss_bytes)
            self.gauge("shmem", "real_used_size", _current_rss_bytes)
            self.gauge("shmem", "max_used_size", _max_rss_bytes)
            self.gauge("shmem", "total_size", _memory_ceiling_bytes)
            self.gauge(
                "shmem", "free_size", lambda: max(_memory_ceiling_bytes() - _current_rss_bytes(), 0)
            )
            self.set_value("registrar", "default_expire", 3600)
            self.set_value("registrar", "max_expires", 3600)

    # ---- registration (startup, not the hot path) -------------------------------------

    def counter(self, group: str, name: str) -> Counter:
        """The counter ``group:name``, created at 0 when new. Keep it and bump ``.value``.

        If a gauge of that name exists it is replaced by a counter.
        """
        stats = self._groups.setdefault(group, {})
        stat = stats.get(name)
        if isinstance(stat, Counter):
            return stat
        counter = stats[name] = Counter()
        return counter

    def gauge(self, group: str, name: str, fn: Callable[[], int], *, reset: bool = False) -> None:
        """Register a computed statistic: ``fn()`` is called each time it is read.

        Replaces a counter of the same name (e.g. the proxy's usrloc makes
        ``usrloc:registered_users`` a gauge). Gauges are never reset unless ``reset=True``
        is given, which only removes the name from the no-reset set (a computed value has
        nothing to reset).
        """
        self._groups.setdefault(group, {})[name] = fn
        if not reset:
            self._no_reset.add((group, name))

    def set_value(self, group: str, name: str, value: int) -> None:
        """Set a counter to a value (configuration values such as registrar:max_expires)."""
        self.counter(group, name).value = value
        self._settings.add((group, name))

    # ---- counts that outlive a process (serve --workers) -------------------------------

    def counts(self) -> dict[str, int]:
        """``{"group:name": value}`` of the counters that count events: not the computed
        values (gauges) nor the settings :meth:`set_value` holds."""
        return {
            f"{group}:{name}": stat.value
            for group, stats in self._groups.items()
            for name, stat in stats.items()
            if isinstance(stat, Counter) and stat.value and (group, name) not in self._settings
        }

    def carry(self, counts: dict[str, int]) -> None:
        """Add what a process before this one had counted (:meth:`counts`) to the counters."""
        for key, value in counts.items():
            group, _, name = key.partition(":")
            if not name or (group, name) in self._settings or not isinstance(value, int):
                continue
            if callable(self._groups.get(group, {}).get(name)):
                continue  # a gauge now: it tells the present, not a count to carry
            self.counter(group, name).value += value

    # ---- reading ---------------------------------------------------------------------

    def groups(self) -> list[str]:
        """Group names in ASCII order."""
        return sorted(self._groups)

    def value(self, group: str, name: str) -> int | None:
        """The current value of ``group:name``, or None when there is no such statistic."""
        stat = self._groups.get(group, {}).get(name)
        if stat is None:
            return None
        return _read(stat)

    def items(self, group: str | None = None) -> Iterator[tuple[str, str, int]]:
        """``(group, name, value)`` for every statistic (or one group's), ASCII order."""
        groups = [group] if group is not None else sorted(self._groups)
        for g in groups:
            stats = self._groups.get(g)
            if not stats:
                continue
            for name in sorted(stats):
                yield g, name, _read(stats[name])

    def select(self, selector: str) -> list[tuple[str, str, int]]:
        """What one RPC parameter names: ``all``, ``group:``, ``name`` or ``group:name``.

        Unknown selectors give an empty list, as in Kamailio.
        """
        if selector == "all":
            return list(self.items())
        if selector.endswith(":"):
            return list(self.items(selector[:-1]))
        if ":" in selector:
            group, _, name = selector.partition(":")
            value = self.value(group, name)
            return [] if value is None else [(group, name, value)]
        for g in sorted(self._groups):
            stat = self._groups[g].get(selector)
            if stat is not None:
                return [(g, selector, _read(stat))]
        return []

    def select_many(self, selectors: list[str]) -> list[tuple[str, str, int]]:
        """:meth:`select` for each selector in turn, results concatenated in that order."""
        out: list[tuple[str, str, int]] = []
        for selector in selectors:
            out.extend(self.select(selector))
        return out

    # ---- resetting -------------------------------------------------------------------

    def reset(self, selector: str) -> None:
        """``stats.reset_statistics``: zero the resettable counters ``selector`` names."""
        for group, name, _ in self.select(selector):
            if (group, name) in self._no_reset:
                continue
            stat = self._groups[group][name]
            if isinstance(stat, Counter):
                stat.value = 0

    def clear(self, selector: str) -> list[tuple[str, str, int, int]]:
        """``stats.clear_statistics``: zero counters (even no-reset ones, as Kamailio's
        clear does) and return ``(group, name, new, old)`` for each one named."""
        out = []
        for group, name, old in self.select(selector):
            stat = self._groups[group][name]
            if isinstance(stat, Counter):
                stat.value = 0
            out.append((group, name, _read(stat), old))
        return out


def _read(stat: Stat) -> int:
    if isinstance(stat, Counter):
        return stat.value
    try:
        return int(stat())
    except Exception:  # a broken gauge must not break stats.get_statistics for all
        return 0


# the request methods whose replies core counts per class (``rcv_replies_2xx_reg`` ...)
_REPLY_METHODS = {
    "BYE": "bye",
    "CANCEL": "cancel",
    "INVITE": "invite",
    "MESSAGE": "message",
    "PRACK": "prack",
    "REFER": "refer",
    "REGISTER": "reg",
    "UPDATE": "update",
}


class ReceivedReplies:
    """core's ``rcv_replies*`` counters, bumped for every reply received (Kamailio's kex
    counts them before any routing): the total, the class (``4xx`` includes 401), 180-189
    as ``18x``, five common codes, and the class per CSeq method."""

    def __init__(self, stats: Statistics) -> None:
        c = stats.counter
        self.total = c("core", "rcv_replies")
        self.by_class = {k: c("core", f"rcv_replies_{k}xx") for k in range(1, 7)}
        self.ringing = c("core", "rcv_replies_18x")
        self.by_code = {k: c("core", f"rcv_replies_{k}") for k in (401, 404, 407, 480, 486)}
        self.by_method = {
            (k, method): c("core", f"rcv_replies_{k}xx_{suffix}")
            for k in range(1, 7)
            for method, suffix in _REPLY_METHODS.items()
        }

    def count(self, status: int, method: str | None) -> None:
        """One reply with ``status`` to a request of ``method`` (its CSeq method)."""
        self.total.value += 1
        cls = status // 100
        if cls not in self.by_class:
            return  # not a SIP status (700+): only the total, as Kamailio
        self.by_class[cls].value += 1
        if 180 <= status <= 189:
            self.ringing.value += 1
        code = self.by_code.get(status)
        if code is not None:
            code.value += 1
        per_method = self.by_method.get((cls, method or ""))
        if per_method is not None:
            per_method.value += 1
