"""htable at run time: dump, get, set, delete, reload, list tables."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import NotFound, RpcError


def dump_rows(answer: Any, table: str | None = None) -> list[dict[str, Any]]:
    """``htable.dump`` (``[{entry, size, slot: [{name, value, type}]}]``) as rows
    ``{table, name, value, type, bucket}`` sorted by name."""
    rows = []
    for bucket in answer or []:
        for item in bucket.get("slot", []) or []:
            rows.append(
                {
                    "table": table,
                    "name": item.get("name"),
                    "value": item.get("value"),
                    "type": item.get("type"),
                    "bucket": bucket.get("entry"),
                }
            )
    rows.sort(key=lambda r: str(r["name"]))
    return rows


def _not_found(exc: RpcError, what: str, table: str | None = None) -> NotFound | RpcError:
    msg = str(exc.details.get("rpc_message", "")).lower()
    if table is not None and "no such htable" in msg:  # the table, not the key, is missing
        return NotFound(f"no hash table {table}", hint="kamtool htable list", rpc_code=exc.rpc_code)
    if exc.rpc_code == 404 or "no such htable" in msg or "doesn't exist" in msg:
        return NotFound(what, rpc_code=exc.rpc_code)
    return exc


def dump(rpc: Rpc, table: str) -> list[dict[str, Any]]:
    try:
        return dump_rows(rpc.call("htable.dump", str(table)), table)
    except RpcError as exc:
        raise _not_found(exc, f"no hash table {table}") from None


def get(rpc: Rpc, table: str, key: str) -> dict[str, Any]:
    """``{table, name, value, flags, expire}`` of one item."""
    try:
        answer = rpc.call("htable.get", str(table), str(key))
    except RpcError as exc:
        raise _not_found(exc, f"no key {key} in hash table {table}", table) from None
    item = answer.get("item", answer) if isinstance(answer, dict) else {"value": answer}
    return {"table": table, **item}


def set_value(rpc: Rpc, table: str, key: str, value: str | int) -> str:
    """Set ``key`` to ``value`` (an int goes through ``htable.seti``, else ``htable.sets``)."""
    method = "htable.seti" if isinstance(value, int) else "htable.sets"
    try:
        return str(rpc.call(method, str(table), str(key), value))
    except RpcError as exc:
        raise _not_found(exc, f"no hash table {table}") from None


def delete(rpc: Rpc, table: str, key: str) -> str:
    try:
        return str(rpc.call("htable.delete", str(table), str(key)))
    except RpcError as exc:
        raise _not_found(exc, f"no key {key} in hash table {table}", table) from None


def reload(rpc: Rpc, table: str) -> Any:
    """Reload ``table`` from its database table."""
    return rpc.call("htable.reload", str(table))


def tables(rpc: Rpc) -> list[dict[str, Any]]:
    """``htable.listTables`` rows ``{name, dbtable, dbmode, expire, updateexpire, size, ...}``."""
    return [dict(t) for t in rpc.call("htable.listTables") or []]
