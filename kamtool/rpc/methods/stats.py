"""``stats.*``, ``sl.stats`` and ``tm.stats`` over :class:`kamtool.proxy.stats.Statistics`."""

from __future__ import annotations

from typing import Any

from kamtool.proxy.stats import Statistics
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["register"]

# sl.stats keys → sl statistics (Kamailio's order in the capture)
_SL_KEYS = (
    "200", "202", "2xx", "300", "301", "302", "3xx", "400", "401", "403", "404", "407",
    "408", "483", "4xx", "500", "5xx", "6xx", "xxx",
)  # fmt: skip


def register(registry: Registry, stats: Statistics) -> None:
    """Add ``stats.get_statistics|fetch|fetchn|reset_statistics|clear_statistics``,
    ``sl.stats`` and ``tm.stats``. Every selector parameter is ``all``, ``group:`` or a name."""

    names = Param("statistic", "str")

    def get_statistics(*selectors: str) -> list[str]:
        return [f"{g}:{n} = {v}" for g, n, v in stats.select_many(list(selectors))]

    def fetch(*selectors: str) -> dict[str, str]:
        return {f"{g}.{n}": str(v) for g, n, v in stats.select_many(list(selectors))}

    def fetchn(*selectors: str) -> dict[str, int]:
        return {f"{g}.{n}": v for g, n, v in stats.select_many(list(selectors))}

    def reset_statistics(*selectors: str) -> None:
        for selector in selectors:
            stats.reset(selector)

    def clear_statistics(*selectors: str) -> Any:
        lines = [
            f"{g}:{n} = {new} ({old})"
            for selector in selectors
            for g, n, new, old in stats.clear(selector)
        ]
        # jsonrpcs: one printed line is a string, several become an array
        return lines[0] if len(lines) == 1 else lines

    def sl_stats() -> dict[str, int]:
        return {key: stats.value("sl", f"{key}_replies") or 0 for key in _SL_KEYS}

    def tm_stats() -> dict[str, int]:
        def v(name: str) -> int:
            return stats.value("tmx", name) or 0

        uas, uac = v("UAS_transactions"), v("UAC_transactions")
        current = v("inuse_transactions")
        return {
            "current": current,
            "waiting": max(current - v("active_transactions"), 0),
            "total": uas,
            "total_local": uac,
            "rpl_received": v("rpl_received"),
            "rpl_generated": v("rpl_generated"),
            "rpl_sent": v("rpl_sent"),
            "6xx": v("6xx_transactions"),
            "5xx": v("5xx_transactions"),
            "4xx": v("4xx_transactions"),
            "3xx": v("3xx_transactions"),
            "2xx": v("2xx_transactions"),
            "created": uas,
            "freed": max(uas - current, 0),
            "delayed_free": 0,
        }

    registry.add(
        "stats.get_statistics",
        get_statistics,
        "Print the values of statistics: all, group: or names.",
        varargs=names,
    )
    registry.add("stats.fetch", fetch, "Values of statistics as strings.", varargs=names)
    registry.add("stats.fetchn", fetchn, "Values of statistics as numbers.", varargs=names)
    registry.add(
        "stats.reset_statistics", reset_statistics, "Reset statistics to 0.", varargs=names
    )
    registry.add(
        "stats.clear_statistics",
        clear_statistics,
        "Clear statistics, returning old values.",
        varargs=names,
    )

    def shmmem() -> dict[str, int]:
        def v(name: str) -> int:
            return stats.value("shmem", name) or 0

        return {
            "total": v("total_size"),
            "free": v("free_size"),
            "used": v("used_size"),
            "real_used": v("real_used_size"),
            "max_used": v("max_used_size"),
            "fragments": v("fragments"),
        }

    def tcp_info() -> dict[str, int]:
        return {
            "readers": 1,  # one event loop reads every connection
            "max_connections": 2048,
            "max_tls_connections": 0,
            "opened_connections": stats.value("tcp", "current_opened_connections") or 0,
            "opened_tls_connections": 0,
            "write_queued_bytes": stats.value("tcp", "current_write_queue_size") or 0,
        }

    def tm_hash_stats() -> None:
        raise RpcFault(500, "Hash statistics not supported")

    registry.add("core.shmmem", shmmem, "Returns shared memory info (process memory here).")
    registry.add("core.tcp_info", tcp_info, "Returns TCP related info.")
    registry.add("tm.hash_stats", tm_hash_stats, "Prints hash table statistics.")
    registry.add("sl.stats", sl_stats, "Print the stateless reply statistics.")
    registry.add("tm.stats", tm_stats, "List the transaction statistics.")
