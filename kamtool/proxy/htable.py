"""Named hash tables (Kamailio's htable module): ``ipban`` and ``kv`` of the reference cfg,
and the operator's own (``[proxy] htables``, in Kamailio's modparam syntax).

Each table has its own ``autoexpire`` (seconds, 0 = never) and a slot count (a power of
two, Kamailio's ``size`` parameter is the exponent). Values are ``str`` or ``int``.
Expired items disappear on access and on :meth:`HtableStore.sweep` (the proxy's timer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from kamtool.core.hashes import core_hash

__all__ = [
    "HashTable",
    "HtableStore",
    "Item",
    "default_store",
    "default_tables",
    "load_db_rows",
    "parse_table_spec",
]

log = logging.getLogger(__name__)

FLAG_STR = 2  # Kamailio's AVP_VAL_STR, what htable.get shows as "flags" for strings


@dataclass(slots=True)
class Item:
    value: str | int
    expires: float = 0.0  # absolute unix time, 0 = never

    @property
    def flags(self) -> int:
        return FLAG_STR if isinstance(self.value, str) else 0


@dataclass
class HashTable:
    """One table. ``size`` is the exponent: 2**size slots, as in Kamailio's ``size=8``."""

    name: str
    size: int = 4
    autoexpire: int = 0
    dbtable: str = ""
    dbmode: int = 0
    updateexpire: int = 1
    initval: int | None = None  # an integer every missing key reads as (sht_inc counts from)
    clock: Callable[[], float] = time.time
    items: dict[str, Item] = field(default_factory=dict)
    # the shared state's listener (kamtool.proxy.shared_state, see default_store): told
    # of every item set or removed here, as (table, key or None for all, item or None);
    # another node's changes go to items directly
    on_change: Callable[[str, str | None, Item | None], None] | None = field(
        default=None, repr=False
    )

    @property
    def slots(self) -> int:
        return 1 << self.size

    def slot_of(self, key: str) -> int:
        return core_hash(key, self.slots, ignore_case=True)

    def _live(self, key: str) -> Item | None:
        item = self.items.get(key)
        if item is not None and item.expires and item.expires <= self.clock():
            del self.items[key]
            return None
        return item

    def get(self, key: str) -> Item | None:
        """The live item stored under ``key``."""
        return self._live(key)

    def set(self, key: str, value: str | int) -> None:
        """Store a value; the item (re)gets the table's autoexpire."""
        old = self._live(key)
        if old is not None and not self.updateexpire:
            expires = old.expires
        else:
            expires = self.clock() + self.autoexpire if self.autoexpire else 0.0
        self.items[key] = item = Item(value, expires)
        if self.on_change is not None:
            self.on_change(self.name, key, item)

    def add(self, key: str, delta: int) -> int | None:
        """``sht_inc``/``sht_dec``: the item's new value; a missing (or expired) key
        starts from ``initval`` when the table has one, else None (nothing stored), as
        None for a string value."""
        item = self._live(key)
        if item is None:
            if self.initval is None:
                return None
            value = self.initval + delta
        elif isinstance(item.value, str):
            return None
        else:
            value = item.value + delta
        if item is not None and not self.updateexpire:
            expires = item.expires
        else:
            expires = self.clock() + self.autoexpire if self.autoexpire else 0.0
        self.items[key] = new = Item(value, expires)
        if self.on_change is not None:
            self.on_change(self.name, key, new)
        return value

    def set_expire(self, key: str, seconds: int) -> bool:
        """``htable.setex``: a new lifetime for an existing item (0 = never expires)."""
        item = self._live(key)
        if item is None:
            return False
        item.expires = self.clock() + seconds if seconds else 0.0
        if self.on_change is not None:
            self.on_change(self.name, key, item)
        return True

    def delete(self, key: str) -> bool:
        found = self.items.pop(key, None) is not None
        if found and self.on_change is not None:
            self.on_change(self.name, key, None)
        return found

    def clear(self) -> None:
        self.items.clear()
        if self.on_change is not None:
            self.on_change(self.name, None, None)  # (every key)

    def sweep(self) -> int:
        """Drop expired items; returns how many."""
        now = self.clock()
        gone = [k for k, it in self.items.items() if it.expires and it.expires <= now]
        for k in gone:
            del self.items[k]
        return len(gone)

    def buckets(self) -> dict[int, list[tuple[str, Item]]]:
        """Live items grouped by slot, slots ascending (``htable.dump``)."""
        self.sweep()
        out: dict[int, list[tuple[str, Item]]] = {}
        for key, item in self.items.items():
            out.setdefault(self.slot_of(key), []).append((key, item))
        return dict(sorted(out.items()))


class HtableStore:
    """All tables by name. ``loader(table)`` returns DB rows for tables with a dbtable."""

    def __init__(
        self,
        tables: Iterable[HashTable] = (),
        loader: Callable[[HashTable], Iterable[tuple[str, str | int, float]]] | None = None,
    ) -> None:
        self.tables: dict[str, HashTable] = {t.name: t for t in tables}
        self.loader = loader

    def get(self, name: str) -> HashTable | None:
        return self.tables.get(name)

    def reload(self, name: str) -> bool:
        """Replace a DB-backed table's content with the DB rows; False for an unknown table."""
        table = self.tables.get(name)
        if table is None:
            return False
        if table.dbtable and self.loader is not None:
            rows = list(self.loader(table))
            table.items.clear()  # (a reload is this node's: not a shared flush)
            for key, value, expires in rows:
                table.items[key] = Item(value, expires)
        return True

    def sweep(self) -> int:
        return sum(t.sweep() for t in self.tables.values())

    def mirror(self, name: str, key: str, value: Any, expires: float | None) -> None:
        """Another node's or worker's change, into this table only (``on_change`` is not
        told: no echo): ``value`` None removes ``key``; an item already expired is not
        stored. ValueError for a value no htable holds (a string or an integer)."""
        table = self.tables.get(name)
        if table is None:
            return
        if value is None:
            table.items.pop(key, None)
        elif not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError("bad htable value")
        elif not expires or expires > table.clock():
            table.items[key] = Item(value, float(expires or 0))


_SPEC_INTS = ("size", "autoexpire", "dbmode", "updateexpire", "initval")


def parse_table_spec(spec: str, clock: Callable[[], float] = time.time) -> HashTable:
    """A table from Kamailio's htable modparam syntax:
    ``name=>size=8;autoexpire=60;initval=0;updateexpire=1;dbtable=htable;dbmode=0``
    (size is the exponent, 2**size slots; ``cols`` and ``dmqreplicate`` are Kamailio's
    only and refused). ValueError for anything else."""
    name, sep, rest = str(spec).partition("=>")
    name = name.strip()
    if not sep or not name or not name.replace("_", "").isalnum():
        raise ValueError(f"{spec!r}: expected name=>key=value;...")
    values: dict[str, Any] = {}
    for part in rest.split(";"):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or key not in (*_SPEC_INTS, "dbtable"):
            raise ValueError(f"{spec!r}: unknown or empty parameter {part.strip()!r}")
        if key == "dbtable":
            values[key] = value
            continue
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{spec!r}: {key} must be an integer") from None
        if number < 0 and key != "initval":
            raise ValueError(f"{spec!r}: {key} must not be negative")
        values[key] = number
    size = values.pop("size", 4)
    return HashTable(name, size=max(2, min(int(size), 14)), clock=clock, **values)


def default_tables(
    clock: Callable[[], float] = time.time, ipban_autoexpire: int = 300
) -> list[HashTable]:
    """The reference cfg's tables: ``kv`` (DB table ``htable``, 16 slots) and ``ipban``
    (256 slots, autoexpire 300 s unless told), in the order Kamailio lists them."""
    return [
        HashTable("kv", size=4, dbtable="htable", clock=clock),
        HashTable("ipban", size=8, autoexpire=ipban_autoexpire, clock=clock),
    ]


def load_db_rows(database: Any) -> Callable[[HashTable], list[tuple[str, str | int, float]]]:
    """A loader reading Kamailio's ``htable`` table layout through a peewee database:
    ``key_name, key_type (0 = plain), value_type (0 str, 1 int), key_value, expires``."""

    from kamtool.db.ddl import quote
    from kamtool.db.fields import engine_of

    def load(table: HashTable) -> list[tuple[str, str | int, float]]:
        if not table.dbtable.replace("_", "").isalnum():
            raise ValueError(f"bad table name {table.dbtable!r}")
        name = quote(engine_of(database), table.dbtable)
        sql = f"SELECT key_name, value_type, key_value, expires FROM {name}"
        out: list[tuple[str, str | int, float]] = []
        for key, vtype, value, expires in database.execute_sql(sql).fetchall():
            val: str | int = value or ""
            if vtype == 1:
                try:
                    val = int(value)
                except (TypeError, ValueError):
                    val = 0
            out.append((str(key), val, float(expires or 0)))
        return out

    return load


def default_store(
    database: Any = None,
    clock: Callable[[], float] = time.time,
    ipban_autoexpire: int = 300,
    authfail_autoexpire: int = 0,
    on_change: Callable[[str, str | None, Item | None], None] | None = None,
    shared: tuple[str, ...] = (),
    extra: Iterable[str] = (),
) -> HtableStore:
    """The reference cfg's tables, ``kv`` loaded from ``database`` when one is given (a
    missing ``htable`` table is logged and leaves ``kv`` empty, as Kamailio starts anyway
    only with a warning). ``authfail_autoexpire`` > 0 adds kamtool's ``authfail`` table
    (failed authentications per source and per user, counted by the default route; each
    failure restarts the expiry, as htable's updateexpire=1 does). The tables named in
    ``shared`` tell ``on_change`` of their changes (the shared state on Redis). ``extra``:
    the operator's tables (``[proxy] htables``, :func:`parse_table_spec`); one named ``kv``
    replaces the built-in."""
    tables = default_tables(clock, ipban_autoexpire)
    if authfail_autoexpire > 0:
        # initval 0: the default route's sht_inc counts a source's first failure as 1
        # (Kamailio's htable without initval would store nothing)
        tables.append(HashTable("authfail", size=8, autoexpire=authfail_autoexpire,
                                initval=0, clock=clock))  # fmt: skip
    declared = [parse_table_spec(spec, clock) for spec in extra]
    names = {t.name for t in declared}
    tables = [t for t in tables if t.name not in names] + declared
    tables = [replace(t, on_change=on_change) if t.name in shared else t for t in tables]
    store = HtableStore(tables, loader=load_db_rows(database) if database is not None else None)
    if database is not None:
        for name, table in store.tables.items():
            if table.dbtable:
                try:
                    store.reload(name)
                except Exception as exc:  # DB down or table missing: start empty
                    log.warning("htable %s: cannot load from %s: %s", name, table.dbtable, exc)
                    try:
                        database.rollback()  # PostgreSQL aborts the transaction on error
                    except Exception:
                        pass
    return store
