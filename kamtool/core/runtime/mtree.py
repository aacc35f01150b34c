"""mtree module at run time: ``mtree.reload``, ``list``, ``match`` and ``summary``."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import NotFound, RpcError


def _call(rpc: Rpc, method: str, *params: Any) -> Any:
    try:
        return rpc.call(method, *params)
    except RpcError as exc:
        if exc.rpc_code == 404 or "empty tree list" in str(exc.message).lower():
            raise NotFound(exc.message, rpc_code=exc.rpc_code) from None
        raise


def reload(rpc: Rpc) -> str:
    answer = rpc.call("mtree.reload")
    return answer if isinstance(answer, str) and answer else "mtrees reloaded"


def list_rows(answer: Any) -> list[dict[str, Any]]:
    """``[{"tname", "tprefix", "tvalue": [...]}]`` as one row per value."""
    rows = []
    for item in answer or []:
        if not isinstance(item, dict):
            continue
        values = item.get("tvalue")
        for value in values if isinstance(values, list) else [values]:
            rows.append(
                {"tname": item.get("tname"), "tprefix": item.get("tprefix"), "tvalue": value}
            )
    return rows


def list_(rpc: Rpc, tname: str | None = None) -> list[dict[str, Any]]:
    """The trees the server holds (all, or the trees whose name starts with ``tname``)."""
    return list_rows(_call(rpc, "mtree.list", *([tname] if tname else [])))


def match(rpc: Rpc, tname: str, value: str, *, every: bool = False) -> list[dict[str, Any]]:
    """``[{"PREFIX", "TVALUE"}]``: the longest prefix (mode 0) or all of them (mode 2).

    Kamailio 5.6 answers mode 0 with the part of the input it walked as PREFIX, which is
    longer than the matching prefix when the tree has longer prefixes sharing its start
    (tree 49 and 4930, input 4931: PREFIX 4931, TVALUE of 49); shown as it answers. Its
    JSON-RPC answer to mode 2 holds only the last (longest) match.
    """
    answer = _call(rpc, "mtree.match", tname, value, 2 if every else 0)
    items = answer if isinstance(answer, list) else [answer]
    return [
        {"PREFIX": i.get("PREFIX"), "TVALUE": i.get("TVALUE")}
        for i in items
        if isinstance(i, dict) and "TVALUE" in i
    ]


def summary(rpc: Rpc) -> list[dict[str, Any]]:
    """One row per tree: name, type, nodes, items, memory and reloads."""
    rows = []
    for entry in _call(rpc, "mtree.summary") or []:
        item = entry.get("item", {}) if isinstance(entry, dict) else {}
        rows.append({"tname": entry.get("table"), **item})
    return rows
