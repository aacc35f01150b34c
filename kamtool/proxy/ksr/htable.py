"""``KSR.htable``: the htables (:mod:`kamtool.proxy.htable`) with Kamailio 5.6's KEMI return
codes: ``sht_inc``/``sht_dec`` give the new value, or -255 when there is none (a missing
key of a table without ``initval``, a string value, no such table); ``sht_rm`` of a
missing key is 1; ``sht_setxi`` is 0 (``sht_setxs`` 1); ``sht_is_null`` is 1 (null), -1
(set), -2 (a table with initval: never null) or 2 (no such table); a missing key of a
table with initval reads as initval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kamtool.core import posix_regex
from kamtool.proxy.ksr.context import e_and_w, state

NO_VALUE = -255  # KSR_HT_KEMI_NOINTVAL


def _table(name: str) -> Any:
    store = state.ctx.parts.htables
    return store.get(str(name)) if store is not None else None


def sht_get(table: str, key: str) -> Any:
    ht = _table(table)
    if ht is None:
        return None
    item = ht.get(str(key))
    if item is None:
        return ht.initval
    return item.value


sht_gete, sht_getw = e_and_w(sht_get)


def _setter(cast: Callable[[Any], Any], ok: int) -> Callable[..., int]:
    def store(table: str, key: str, value: Any, expire: int | None = None) -> int:
        ht = _table(table)
        if ht is None:
            return -1
        ht.set(str(key), cast(value))
        if expire is not None:
            ht.set_expire(str(key), int(expire))
        return ok

    return store


def sht_setex(table: str, key: str, expire: int) -> int:
    """A new lifetime for an item of an autoexpire table (1 also when there is nothing
    to change)."""
    ht = _table(table)
    if ht is None:
        return -1
    if ht.autoexpire:
        ht.set_expire(str(key), int(expire))
    return 1


def sht_rm(table: str, key: str) -> int:
    ht = _table(table)
    if ht is None:
        return -1
    ht.delete(str(key))
    return 1


def _add(delta: int) -> Callable[[str, str], int]:
    def add(table: str, key: str) -> int:
        ht = _table(table)
        value = ht.add(str(key), delta) if ht is not None else None
        return NO_VALUE if value is None else value

    add.__name__ = "sht_inc" if delta > 0 else "sht_dec"
    return add


def sht_is_null(table: str, key: str) -> int:
    ht = _table(table)
    if ht is None:
        return 2
    if ht.initval is not None:
        return -2
    return -1 if ht.get(str(key)) is not None else 1


def _live_items(ht: Any) -> list[tuple[str, Any]]:
    return [(k, item.value) for items in ht.buckets().values() for k, item in items]


def _test(op: str, text: str) -> Callable[[str], bool] | None:
    if op == "re":  # an extended POSIX expression, compiled by libc as htable does
        try:
            pat = posix_regex.compile_regex(text, posix_regex.KAMAILIO_ERE)
        except posix_regex.PosixRegexError:
            return None
        return pat.search
    return {
        "eq": lambda s: s == text, "ne": lambda s: s != text,
        "sw": lambda s: s.startswith(text),
    }.get(op)  # fmt: skip


def _match(table: str, op: str, value: str, by_value: bool) -> int:
    """1 when a key (a string value) of ``table`` matches: eq, ne, re, sw."""
    ht = _table(table)
    test = _test(str(op), str(value))
    if ht is None or test is None:
        return -1
    for k, v in _live_items(ht):
        subject = v if by_value else k
        if isinstance(subject, str) and test(subject):
            return 1
    return -1


def _remove(ht: Any, test: Callable[[str], bool], by_value: bool) -> int:
    for k, v in _live_items(ht):
        subject = v if by_value else k
        if isinstance(subject, str) and test(subject):
            ht.delete(k)
    return 1


def _rm_re(by_value: bool) -> Callable[[str, str], int]:
    def rm_re(table: str, regex: str) -> int:
        ht = _table(table)
        if ht is None:
            return 1  # (Kamailio's)
        return _remove(ht, _test("re", str(regex)), by_value)  # type: ignore[arg-type]

    return rm_re


def _rm_op(by_value: bool) -> Callable[[str, str, str], int]:
    def rm_op(table: str, op: str, value: str) -> int:
        """Remove the items whose key (value) matches: ``op`` "re" or "sw" only."""
        ht = _table(table)
        if ht is None or str(op) not in ("re", "sw"):
            return -1
        return _remove(ht, _test(str(op), str(value)), by_value)  # type: ignore[arg-type]

    return rm_op


def sht_reset(table: str) -> int:
    """Empty the table (0, as Kamailio's KEMI function gives; -1: no such table)."""
    ht = _table(table)
    if ht is None:
        return -1
    ht.clear()
    return 0


def htable_functions() -> dict[str, Any]:
    """``KSR.htable``."""
    return dict(
        sht_get=sht_get, sht_gete=sht_gete, sht_getw=sht_getw,
        sht_sets=_setter(str, 1), sht_seti=_setter(int, 1), sht_setxs=_setter(str, 1),
        sht_setxi=_setter(int, 0), sht_setex=sht_setex, sht_rm=sht_rm,
        sht_inc=_add(1), sht_dec=_add(-1), sht_is_null=sht_is_null,
        sht_match_name=lambda t, op, v: _match(t, op, v, False),
        sht_match_str_value=lambda t, op, v: _match(t, op, v, True),
        sht_rm_name_re=_rm_re(False), sht_rm_value_re=_rm_re(True),
        sht_rm_name=_rm_op(False), sht_rm_value=_rm_op(True), sht_reset=sht_reset,
    )  # fmt: skip
