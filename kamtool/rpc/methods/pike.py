"""``pike.top`` (and its alias ``pike.list``) over the proxy's flood detector."""

from __future__ import annotations

from typing import Any, Protocol

from kamtool.rpc.methods import Param, Registry

__all__ = ["Pike", "register"]


class Pike(Protocol):
    """``max_hits`` (requests per sampling unit that make a source HOT) and
    ``top(all_nodes)`` → entries with ``ip_addr``, ``leaf_hits_prev``, ``leaf_hits_curr``,
    ``expires`` (seconds), ``status`` (``"HOT"``/``"WARM"``/``"COLD"``)."""

    max_hits: int

    def top(self, all_nodes: bool) -> list[Any]: ...


class NoPike:
    """Used while the proxy has no flood detector: nothing is ever hot."""

    max_hits = 200

    def top(self, all_nodes: bool) -> list[Any]:
        return []


def register(registry: Registry, pike: Pike | None = None) -> None:
    source: Pike = pike if pike is not None else NoPike()

    def top(mode: str = "HOT") -> dict[str, Any]:
        rows = [
            {
                "ip_addr": e.ip_addr,
                "leaf_hits_prev": e.leaf_hits_prev,
                "leaf_hits_curr": e.leaf_hits_curr,
                "expires": e.expires,
                "status": e.status,
            }
            for e in source.top(mode.upper() == "ALL")
        ]
        return {"max_hits": source.max_hits, "list": rows, "number_of_rows": len(rows)}

    mode = Param("mode", required=False, default="HOT")
    registry.add("pike.top", top, "pike.top [HOT|ALL]: the hottest source addresses.", mode)
    registry.add("pike.list", top, "Same as pike.top.", mode)
