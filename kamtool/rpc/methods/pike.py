"""``pike.top`` (and its alias ``pike.list``) over the proxy's flood detector."""

from __future__ import annotations

from typing import Any, Protocol

from kamtool.rpc.kamjson import LazyList, chunks_of
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["Pike", "register"]


class Pike(Protocol):
    """``max_hits`` (requests per sampling unit that make a source HOT) and
    ``top(status)`` (``"HOT"``, ``"WARM"`` or ``"ALL"``) → entries with ``ip_addr``,
    ``leaf_hits_prev``, ``leaf_hits_curr``, ``expires`` (seconds), ``status`` (``"HOT"``,
    ``"WARM"`` or ``""``), as :class:`kamtool.proxy.pike.Pike` gives them."""

    max_hits: int

    def top(self, status: str) -> list[Any]: ...


class NoPike:
    """Used while the proxy has no flood detector (``pike = false``): nothing is ever hot."""

    max_hits = 200

    def top(self, status: str) -> list[Any]:
        return []


def _row(e: Any) -> dict[str, Any]:
    return {
        "ip_addr": e.ip_addr,
        "leaf_hits_prev": e.leaf_hits_prev,
        "leaf_hits_curr": e.leaf_hits_curr,
        "expires": e.expires,
        "status": e.status,
    }


def register(registry: Registry, pike: Pike | None = None) -> None:
    source: Pike = pike if pike is not None else NoPike()

    def top(mode: str = "HOT") -> dict[str, Any]:
        # Kamailio looks for ALL, then HOT, then WARM anywhere in the argument; we also
        # accept lower case. It answers WARM with an empty list (a bug); we list WARM leaves.
        wanted = str(mode).upper()
        status = next((s for s in ("ALL", "HOT", "WARM") if s in wanted), None)
        if status is None:
            raise RpcFault(500, "Bad argument. Select: ALL, HOT or WARM")
        # under attack pike tracks many sources: streamed (kamjson.LazyList)
        found = list(source.top(status))
        rows = LazyList(lambda: ([_row(e) for e in c] for c in chunks_of(found, 500)))
        return {"max_hits": source.max_hits, "list": rows, "number_of_rows": len(found)}

    mode = Param("mode", required=False, default="HOT")
    doc = "pike.top [HOT|WARM|ALL]: the source addresses pike tracks (default: the HOT ones)."
    registry.add("pike.top", top, doc, mode)
    registry.add("pike.list", top, "Same as pike.top.", mode)
