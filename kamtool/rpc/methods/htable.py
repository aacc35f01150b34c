"""``htable.*`` over :class:`kamtool.proxy.htable.HtableStore` (shapes: rpc/htable.*.json)."""

from __future__ import annotations

import time
from typing import Any

from kamtool.proxy.htable import HashTable, HtableStore
from kamtool.rpc.kamjson import LazyList, chunks_of
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["register"]


def _expire_text(ts: float) -> str:
    # an item of a table without autoexpire never expires: Kamailio says so in words
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "NEVER"


def register(registry: Registry, store: HtableStore) -> None:
    """Add ``htable.get|sets|seti|setex|delete|dump|reload|flush|listTables|stats``."""

    def table(name: str) -> HashTable:
        t = store.get(name)
        if t is None:
            raise RpcFault(500, "No such htable")
        return t

    def get(name: str, key: str) -> dict[str, Any]:
        item = table(name).get(key)
        if item is None:
            raise RpcFault(500, "Key name doesn't exist in htable.")
        return {
            "item": {
                "name": key,
                "value": item.value,
                "flags": item.flags,
                "expire": _expire_text(item.expires),
            }
        }

    def sets(name: str, key: str, value: str) -> str:
        table(name).set(key, value)
        return "Ok. Key set to new value."

    def seti(name: str, key: str, value: int) -> str:
        table(name).set(key, value)
        return "Ok. Key set to new value."

    def setex(name: str, key: str, seconds: int) -> str:
        if not table(name).set_expire(key, seconds):
            raise RpcFault(500, "Failed to set expire.")
        return "Ok"

    def delete(name: str, key: str) -> str:
        if not table(name).delete(key):
            raise RpcFault(404, "Key not found in htable.")
        return "Ok. Key deleted."

    def bucket(slot: int, items: list[Any]) -> dict[str, Any]:
        return {
            "entry": slot,
            "size": len(items),
            "slot": [
                {
                    "name": key,
                    "value": item.value,
                    "type": "str" if isinstance(item.value, str) else "int",
                }
                for key, item in items
            ],
        }

    def dump(name: str) -> LazyList:
        # streamed (kamjson.LazyList): buckets listed now, printed 200 at a time
        slots = list(table(name).buckets().items())
        return LazyList(
            lambda: ([bucket(s, list(items)) for s, items in c] for c in chunks_of(slots, 200))
        )

    def reload(name: str) -> None:
        table(name)
        store.reload(name)

    def flush(name: str) -> None:
        table(name).clear()

    def list_tables() -> list[dict[str, Any]]:
        return [
            {
                "name": t.name,
                "dbtable": t.dbtable,
                "dbmode": t.dbmode,
                "expire": t.autoexpire,
                "updateexpire": t.updateexpire,
                "size": t.slots,
                "dmqreplicate": 0,
            }
            for t in store.tables.values()
        ]

    def stats() -> list[dict[str, Any]]:
        out = []
        for t in store.tables.values():
            per_slot = [len(v) for v in t.buckets().values()]
            out.append(
                {
                    "name": t.name,
                    "slots": t.slots,
                    "all": sum(per_slot),
                    # slots with no item count as 0, as Kamailio's min does
                    "min": min(per_slot) if len(per_slot) == t.slots else 0,
                    "max": max(per_slot, default=0),
                }
            )
        return out

    two = "Not enough parameters (htable name and key name)"
    three = "Not enough parameters (htable name, key name and value)"
    tname, key = Param("htable"), Param("key")
    registry.add("htable.get", get, "Get one key from a hash table.", tname, key, missing=two)
    registry.add(
        "htable.sets",
        sets,
        "Set one key in a hash table to a string value.",
        tname,
        key,
        Param("value"),
        missing=three,
    )
    registry.add(
        "htable.seti",
        seti,
        "Set one key in a hash table to an integer value.",
        tname,
        key,
        Param("value", "int"),
        missing=three,
    )
    registry.add(
        "htable.setex",
        setex,
        "Set expire for one key in a hash table.",
        tname,
        key,
        Param("expire", "int"),
        missing=three,
    )
    registry.add(
        "htable.delete", delete, "Delete one key from a hash table.", tname, key, missing=two
    )
    registry.add(
        "htable.dump",
        dump,
        "Dump the content of a hash table.",
        tname,
        missing="Not enough parameters (htable name)",
    )
    registry.add(
        "htable.reload",
        reload,
        "Reload hash table from database.",
        tname,
        missing="Not enough parameters (htable name)",
    )
    registry.add(
        "htable.flush",
        flush,
        "Remove every item of a hash table.",
        tname,
        missing="Not enough parameters (htable name)",
    )
    registry.add("htable.listTables", list_tables, "List all htables.")
    registry.add("htable.stats", stats, "Statistics about htables.")
