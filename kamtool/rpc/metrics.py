"""Prometheus exposition for ``GET /metrics`` (prometheus-client).

Every statistic becomes ``kamailio_<group>_<name>`` (kamailio_exporter's naming:
``kamailio_core_rcv_requests``, ``kamailio_dialog_active_dialogs``,
``kamailio_usrloc_registered_users`` ...), characters Prometheus does not allow replaced
by ``_``. Counters that only grow are exposed as gauges too: ``stats.reset_statistics``
can move them down, which a Prometheus counter must never do. On top:

* florentchauveau/kamailio_exporter's ``kamailio_up``,
  ``kamailio_dlg_stats_active_{starting,connecting,answering,ongoing,all}`` and
  ``kamailio_dispatcher_list_target{setid,destination,flags}`` (1 when active, else 0);
* ``kamailio_usrloc_contacts`` (bindings) and ``kamtool_uptime_seconds``;
* ``kamtool_health{rule}``: the level of each rule of ``kamtool diagnose`` that the
  proxy can judge from its own state (0 OK, 1 WARNING, 2 CRITICAL; rates over the
  totals since start), and ``kamtool_health_worst``.

A private CollectorRegistry per server: nothing leaks into the process-wide default one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kamtool.core import health
from kamtool.proxy.stats import Statistics
from kamtool.rpc.methods.dlg import active_counts

__all__ = ["metric_name", "metrics_endpoint", "workers_metrics_endpoint"]

_BAD = re.compile(r"[^a-zA-Z0-9_]")


# dlg.stats_active's keys (Kamailio's words) -> the names of the dialog gauges
_ACTIVE_KEYS = {
    "starting": "unconfirmed", "connecting": "early", "answering": "confirmed_not_acked",
    "ongoing": "confirmed", "all": "all",
}  # fmt: skip


def metric_name(group: str, name: str) -> str:
    """``kamailio_<group>_<name>`` made Prometheus-safe (``-`` and ``.`` → ``_``)."""
    return _BAD.sub("_", f"kamailio_{group}_{name}")


class _Collector:
    def __init__(
        self,
        stats: Any,
        dialog_counts: Callable[[], dict[str, int]] | None = None,  # dlg.stats_active
        dispatcher: Any = None,
        usrloc: Any = None,
        started: float | None = None,
        limits: health.Thresholds | None = None,
    ) -> None:
        self.stats, self.dispatcher, self.usrloc = stats, dispatcher, usrloc
        self.dialog_counts = dialog_counts
        self.started = time.time() if started is None else started
        self.limits = limits or health.Thresholds()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        seen: set[str] = set()
        for group, name, value in self.stats.items():
            mname = metric_name(group, name)
            if mname in seen:
                continue
            seen.add(mname)
            fam = GaugeMetricFamily(mname, f"Kamailio statistic {group}:{name}")
            fam.add_metric([], value)
            yield fam
        yield _single("kamailio_up", "1 while the server answers", 1)
        yield _single("kamtool_uptime_seconds", "Seconds since start", time.time() - self.started)
        if self.dialog_counts is not None:
            active = self.dialog_counts()
            for key, name in _ACTIVE_KEYS.items():
                n = int(active.get(key, 0))
                yield _single(f"kamailio_dlg_stats_active_{name}", f"Dialogs {name}.", n)
        if self.dispatcher is not None:
            fam = GaugeMetricFamily(
                "kamailio_dispatcher_list_target",
                "1 when the dispatcher destination is active",
                labels=["setid", "destination", "flags"],
            )
            for set_id, dests in sorted(self.dispatcher.sets().items()):
                for dst in dests:
                    fam.add_metric(
                        [str(set_id), dst.uri, dst.flags], 1 if dst.flags.startswith("A") else 0
                    )
            yield fam
        if self.usrloc is not None:
            total = self.usrloc.stats()[1]  # kept counted: 100k contacts are not walked
            yield _single("kamailio_usrloc_contacts", "Contact bindings in location", total)
        yield from self._health()

    def _health(self) -> Iterator[GaugeMetricFamily]:
        """The diagnose rules over the proxy's own statistics and dispatcher state."""
        flat = {f"{g}:{n}": float(v) for g, n, v in self.stats.items()}
        limits = self.limits
        checks = [
            health.check_error_rate(flat, None, limits),
            health.check_transactions(flat, None, limits=limits),
            health.check_dialogs(flat, None, limits),
            health.check_shared_memory(flat, limits),
            health.check_bans(None, flat.get("pike:blocked_ips"), limits),
            health.check_auth_failures(flat, None, limits),
        ]
        if self.dispatcher is not None:
            dests = [_DestState(set_id, dst.flags)
                     for set_id, ds in self.dispatcher.sets().items() for dst in ds]  # fmt: skip
            checks.append(health.check_dispatcher(dests))
        fam = GaugeMetricFamily(
            "kamtool_health",
            "Level of a kamtool diagnose rule: 0 OK, 1 WARNING, 2 CRITICAL",
            labels=["rule"],
        )
        for check in checks:
            fam.add_metric([check.name], health.level_rank(check.level))
        yield fam
        yield _single("kamtool_health_worst", "The worst level of kamtool_health",
                      health.level_rank(health.worst(checks)))  # fmt: skip


class _DestState:
    """A dispatcher destination as the health rule reads it (state from the flags)."""

    _STATES = {"A": "active", "I": "inactive", "D": "disabled", "T": "trying"}

    def __init__(self, set_id: int, flags: str) -> None:
        self.set_id = int(set_id)
        self.state = self._STATES.get(flags[:1], "active")


def _single(name: str, doc: str, value: float) -> GaugeMetricFamily:
    fam = GaugeMetricFamily(name, doc)
    fam.add_metric([], value)
    return fam


def metrics_endpoint(
    stats: Statistics,
    *,
    dialogs: Any = None,
    dispatcher: Any = None,
    usrloc: Any = None,
    started: float | None = None,
    limits: health.Thresholds | None = None,
) -> Callable[[], tuple[bytes, str]]:
    """A function producing ``(body, content_type)`` for ``RpcServer(metrics=...)``;
    ``limits``: the health thresholds (``[monitor]``), defaults when None."""
    registry = CollectorRegistry(auto_describe=False)
    counts = None if dialogs is None else partial(active_counts, dialogs)
    registry.register(_Collector(stats, counts, dispatcher, usrloc, started, limits))

    def produce() -> tuple[bytes, str]:
        return generate_latest(registry), CONTENT_TYPE_LATEST

    return produce


class _Snapshot:
    """Statistics as answered over RPC (``group:name = value`` lines), for the collector."""

    def __init__(self, lines: Any) -> None:
        from kamtool.core.runtime.stats import stat_rows

        self.rows = [(r["group"], r["name"], r["value"]) for r in stat_rows(lines)
                     if isinstance(r["value"], int | float)]  # fmt: skip

    def items(self) -> list[tuple[str, str, Any]]:
        return self.rows


def workers_metrics_endpoint(
    call: Callable[[str, list[Any]], Any],
    *,
    dispatcher: Any = None,
    usrloc: Any = None,
    started: float | None = None,
    limits: health.Thresholds | None = None,
) -> Callable[[], Any]:
    """``/metrics`` of ``kamtool serve --workers N``: the statistics and dialog counts
    summed over every worker through the RPC registry's ``call`` (worker 0 sums them as
    for ``stats.get_statistics``); registrations and dispatcher states are worker 0's
    (every worker holds the same)."""

    async def produce() -> tuple[bytes, str]:
        stats = _Snapshot(await call("stats.get_statistics", ["all"]))
        active = await call("dlg.stats_active", [])
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(stats, lambda: active, dispatcher, usrloc, started, limits))
        return generate_latest(registry), CONTENT_TYPE_LATEST

    return produce
