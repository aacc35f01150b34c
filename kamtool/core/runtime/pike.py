"""pike at run time: the addresses sending too fast (``pike.top``)."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import BadInput, RpcError


def top_rows(answer: Any) -> list[dict[str, Any]]:
    """``{"max_hits", "list": [{ip_addr, leaf_hits_prev, leaf_hits_curr, expires, status}]}``
    as rows ``{ip, hits_prev, hits_curr, expires, status}``."""
    items = answer.get("list", []) if isinstance(answer, dict) else []
    return [
        {
            "ip": i.get("ip_addr"),
            "hits_prev": i.get("leaf_hits_prev"),
            "hits_curr": i.get("leaf_hits_curr"),
            "expires": i.get("expires"),
            "status": i.get("status"),
        }
        for i in items or []
    ]


def auth_failures(rpc: Rpc) -> list[dict[str, Any]]:
    """Failed authentications counted by kamtool's default route (htable ``authfail``:
    keys are source addresses and ``user:<user>@<realm>``) as rows ``{source, failures}``,
    most first; [] when the server has no such table (Kamailio, or the count is off)."""
    from kamtool.core.runtime.htable import dump_rows

    try:
        answer = rpc.call("htable.dump", "authfail")
    except RpcError:
        return []
    rows = [{"source": r["name"], "failures": r["value"]} for r in dump_rows(answer)]
    rows.sort(key=lambda r: r["failures"] if isinstance(r["failures"], int) else 0, reverse=True)
    return rows


def top(rpc: Rpc, mode: str = "HOT") -> dict[str, Any]:
    """``{max_hits, rows}``: HOT addresses (blocked now), WARM ones (over half the limit,
    not blocked) or ALL tracked ones. Kamailio 5.6 answers WARM with an empty list (a bug);
    kamtool's proxy lists them."""
    mode = mode.upper()
    if mode not in ("HOT", "WARM", "ALL"):
        raise BadInput("pike top shows HOT, WARM or ALL addresses")
    answer = rpc.call("pike.top", mode)
    return {"max_hits": (answer or {}).get("max_hits"), "rows": top_rows(answer)}
