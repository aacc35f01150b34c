"""``KSR.htable``'s iterators (``sht_iterator_start``/``next``/``end``/``rm``/``sets``/
``seti``/``setex``, read through ``$shtitkey(name)``/``$shtitval(name)``) and slot locks
(``sht_lock``/``sht_unlock``), with htable 5.6's return codes.

As in Kamailio an iterator belongs to the process and lives from ``start`` to ``end``
across requests; at most four exist at once. Kamailio walks the table's slots under
their locks; kamtool walks the keys the table held at the first ``next`` (a key removed
meanwhile is skipped). One request route runs at a time in a worker, so the locks have
nothing to exclude: they answer as Kamailio's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.htable import _table

__all__ = ["current", "htable_iter_functions"]

MAX_ITERATORS = 4  # htable's HT_ITERATOR_SIZE
NAME_MAX = 32  # HT_ITERATOR_NAME_SIZE (a name must be shorter)


@dataclass
class _Iterator:
    table: Any
    keys: list[str] | None = None  # taken at the first next()
    pos: int = -1
    key: str | None = None  # the current item's key
    done: bool = False


_ITERATORS: dict[str, _Iterator] = {}


def _get(name: str) -> _Iterator | None:
    return _ITERATORS.get(str(name))


def sht_iterator_start(name: str, table: str) -> int:
    """Start (or restart) iterator ``name`` over ``table``: 1, or -1 (no such table, a
    fifth iterator, an empty or too long name)."""
    name = str(name)
    if not name or not str(table):
        return -1
    if name not in _ITERATORS and (len(_ITERATORS) >= MAX_ITERATORS or len(name) >= NAME_MAX):
        return -1
    ht = _table(table)
    if ht is None:
        _ITERATORS.pop(name, None)
        return -1
    _ITERATORS[name] = _Iterator(ht)
    return 1


def _advance(it: _Iterator) -> bool:
    """Move to the next key still in the table; False at the end."""
    if it.keys is None:
        it.keys = [k for items in it.table.buckets().values() for k, _ in items]
    while it.pos + 1 < len(it.keys):
        it.pos += 1
        key = it.keys[it.pos]
        if it.table.get(key) is not None:
            it.key = key
            return True
    it.key, it.done = None, True
    return False


def sht_iterator_next(name: str) -> int:
    """1 with the next item current, -1 at the end (or no such iterator)."""
    it = _get(name)
    if it is None or it.done:
        # (Kamailio, after sht_iterator_rm() removed the last item, starts over from the
        # first slot here: the items already seen come again. kamtool stays at the end.)
        return -1
    return 1 if _advance(it) else -1


def sht_iterator_end(name: str) -> int:
    return 1 if _ITERATORS.pop(str(name), None) is not None else -1


def sht_iterator_rm(name: str) -> int:
    """Remove the current item and make the next one current (htable's documented
    behaviour): 1, -2 when that was the last, -1 without a current item."""
    it = _get(name)
    if it is None or it.key is None:
        return -1
    it.table.delete(it.key)
    return 1 if _advance(it) else -2


def _current_set(name: str, value: Any) -> int:
    it = _get(name)
    if it is None or it.key is None:
        return -1
    it.table.set(it.key, value)
    return 1


def sht_iterator_sets(name: str, value: str) -> int:
    return _current_set(name, str(value))


def sht_iterator_seti(name: str, value: int) -> int:
    return _current_set(name, int(value))


def sht_iterator_setex(name: str, expire: int) -> int:
    """A new lifetime for the current item (htable sets it whatever the table's
    autoexpire)."""
    it = _get(name)
    if it is None or it.key is None:
        return -1
    it.table.set_expire(it.key, int(expire))
    return 1


def _lock(table: str, key: str) -> int:
    return 1 if _table(table) is not None else -1


def current(name: str, value: bool) -> Any:
    """``$shtitkey(name)`` (``value`` False) or ``$shtitval(name)``: None without a
    current item."""
    it = _get(name)
    if it is None or it.key is None:
        return None
    if not value:
        return it.key
    item = it.table.get(it.key)
    return item.value if item is not None else None


def htable_iter_functions() -> dict[str, Any]:
    """The iterator and lock functions of ``KSR.htable``."""
    return dict(
        sht_iterator_start=sht_iterator_start, sht_iterator_next=sht_iterator_next,
        sht_iterator_end=sht_iterator_end, sht_iterator_rm=sht_iterator_rm,
        sht_iterator_sets=sht_iterator_sets, sht_iterator_seti=sht_iterator_seti,
        sht_iterator_setex=sht_iterator_setex, sht_lock=_lock, sht_unlock=_lock,
    )  # fmt: skip


pv.NAMED.update(
    shtitkey=lambda arg: lambda c: current(arg.strip(), False),
    shtitval=lambda arg: lambda c: current(arg.strip(), True),
)
