"""What kamtool's proxy can answer of Kamailio's server views: ``core.aliases_list``,
``pkg.stats``/``pkg.info``, ``shm.info`` and the shared variables ``pv.shvGet`` /
``pv.shvSet`` (``kamtool srv``, ``pkg``, ``shm``, ``shv``).

The proxy is one process: its "private memory" is the process's memory, the same numbers
``core.shmmem`` gives (one pkg.stats row). It has no ``alias=`` setting, so the alias list
is empty. Kamailio sets only shared variables the cfg declared (``modparam("pv",
"shvset", ...)``); the proxy has no cfg to declare them in, so a first ``pv.shvSet``
creates the variable.
"""

from __future__ import annotations

import os
from typing import Any

from kamtool.proxy.stats import Statistics
from kamtool.rpc.methods import Param, Registry, RpcFault


def register(registry: Registry, stats: Statistics) -> None:
    """Add ``core.aliases_list``, ``pkg.*``, ``shm.info`` and ``pv.shv*``."""
    shv: dict[str, int | str] = {}

    def mem(name: str) -> int:
        return stats.value("shmem", name) or 0

    def aliases_list() -> dict[str, Any]:
        return {"myself_callbacks": "no", "aliases": []}

    def pkg_stats() -> list[dict[str, Any]]:
        total, used = mem("total_size"), mem("real_used_size")
        return [{
            "entry": 0, "pid": os.getpid(), "rank": 0, "used": used,
            "free": max(total - used, 0), "real_used": used, "total_size": total,
            "total_frags": 0, "desc": "main process - attendant",
        }]  # fmt: skip

    def allocator() -> dict[str, Any]:
        return {"name": "python", "size": mem("total_size")}

    def item(name: str) -> dict[str, Any]:
        value = shv[name]
        return {"name": name, "type": "int" if isinstance(value, int) else "string",
                "value": value}  # fmt: skip

    def shv_get(name: str | None = None) -> dict[str, Any]:
        if name is None:
            return {"items": [item(n) for n in sorted(shv)]}
        if name not in shv:
            raise RpcFault(404, "Variable not found")
        return {"items": [item(name)]}

    def shv_set(name: str, kind: str, value: Any) -> None:
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise RpcFault(500, "Invalid integer value")
            shv[name] = value
        elif kind == "str":
            shv[name] = str(value)
        else:
            raise RpcFault(500, "Invalid type")

    registry.add("core.aliases_list", aliases_list, "List local SIP server host aliases.")
    registry.add("pkg.stats", pkg_stats, "Private memory (pkg) statistics per process.")
    registry.add("pkg.info", allocator, "Private memory (pkg) manager details.")
    registry.add("shm.info", allocator, "Shared memory manager details.")
    registry.add("pv.shvGet", shv_get, "Get $shv(name) value.", Param("name", required=False))
    registry.add("pv.shvSet", shv_set, "Set $shv(name) value.", Param("name"), Param("type"),
                 Param("value", "any"), missing="Not enough parameters")  # fmt: skip
