"""``KSR.sqlops``: raw SQL from a route script, as Kamailio 5.6's sqlops module exports it
to KEMI, over the ``[proxy] sqlcon`` connections (:mod:`.sqlops_db`).

The query is the text the script built, sent as it is (so is Kamailio's): the script
escapes the values it puts in (``$(var(x){s.escape.common})``, ``{sql.val}``). A query
runs on the database worker while the route's greenlet waits (:func:`.context.wait_db`).

Results are named containers kept per proxy process until freed or overwritten, as
sqlops' (a name is created on first use, even by a read; at most 32 or so). The return
codes are those of 5.6's KEMI exports, which differ from its cfg functions:
``sql_query`` answers 0 when the query ran (rows or none; sqlops_do_query's 0) and -1
when not; ``sql_xquery`` 1 / -1; ``sql_pvquery`` 1 with rows, 2 without, -1;
``sql_result_free`` 1. ``$dbr(name=>rows|cols|[r,c]|colname[c])`` reads a result,
``$sqlrows(con)`` the rows the last statement changed (null on SQLite, whose Kamailio
driver cannot tell).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import MsgContext, db_error, state, wait_db
from kamtool.proxy.ksr.pvspec import BadName, parse, scan_pv
from kamtool.proxy.ksr.pvstores import _XAVPS, _Item
from kamtool.proxy.ksr.sqlops_db import INT32, BigInt, Outcome, SqlCon, parse_sqlcon, run

__all__ = ["dbr_getter", "sqlops_functions", "sqlrows_getter"]

log = logging.getLogger(__name__)

RESULTS_MAX = 32  # sqlops' results_maxsize


@dataclass
class _Result:
    """One named result container: column names and rows of values (None, int, str)."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.columns, self.rows = [], []

    def cell(self, row: int, col: int) -> tuple[bool, Any]:
        """(True, value) inside the result, (False, None) outside."""
        if 0 <= row < len(self.rows) and 0 <= col < len(self.columns):
            return True, self.rows[row][col]
        return False, None


class _State:
    """This process's connections (from the config) and result containers."""

    def __init__(self, config: Any) -> None:
        own_url = getattr(config, "db_url", "") or ""
        self.own_url = own_url
        self.cons: dict[str, SqlCon] = {}
        for spec in getattr(config, "sqlcon", ()) or ():
            con = parse_sqlcon(spec, own_url)
            self.cons[con.name] = con
        self.results: dict[str, _Result] = {}
        self.own_db: Any = None  # kamtool's database when there is no worker (tests)


class _Holder:
    """Where the state lives when a context has no engine (unit tests)."""


_NO_ENGINE = _Holder()


def _state(ctx: MsgContext) -> _State:
    """The sqlops state of this process: kept on the script engine, so results survive a
    script reload as Kamailio's (in each process's memory) do."""
    holder = ctx.engine if ctx.engine is not None else _NO_ENGINE
    st = getattr(holder, "_kamtool_sqlops", None)
    if st is None:
        st = _State(getattr(getattr(ctx, "parts", None), "config", None))
        holder._kamtool_sqlops = st
    return st


def _connection(st: _State, name: str) -> SqlCon | None:
    con = st.cons.get(str(name))
    if con is None:
        log.error("sqlops: invalid connection [%s]", name)
    return con


def _result(st: _State, name: str) -> _Result | None:
    """The container ``name``, made when missing (sqlops' sql_get_result)."""
    name = str(name)
    res = st.results.get(name)
    if res is None:
        if len(st.results) > RESULTS_MAX:
            log.error("sqlops: too many result containers defined")
            return None
        res = st.results[name] = _Result()
    return res


def _own_database(ctx: MsgContext, st: _State) -> Any:
    worker = getattr(ctx.parts, "db", None)
    if worker is not None:
        return worker.database
    if st.own_db is None and st.own_url:
        from kamtool.db.connect import make_database
        from kamtool.db.url import parse_url

        st.own_db = make_database(parse_url(st.own_url))
    return st.own_db


def _execute(ctx: MsgContext, st: _State, con: SqlCon, query: str, what: str) -> Outcome | None:
    """The query's outcome, None when it failed (logged once: its first 64 characters,
    as sqlops logs them, and the driver's first line)."""
    try:
        out = wait_db(partial(run, con, str(query), _own_database(ctx, st)))
    except Exception as exc:  # the worker's DatabaseDown, a connection lost
        db_error(ctx, what, exc)
        return None
    if out.error is not None:
        log.error("%s: cannot do the query [%.64s]: %s", what, query, out.error)
        return None
    return out


def _readable(value: Any) -> Any:
    """A BIGINT reads as its digits ($dbr, sql_result_get, $xavp: sqlops' strings)."""
    return str(value) if isinstance(value, BigInt) else value


def sql_query(con: str, query: str, res: str | None = None) -> int:
    """Run ``query`` on connection ``con``, its rows into result ``res`` (emptied first;
    without ``res`` the rows are dropped). 0 when the query ran, -1 when not."""
    ctx = state.ctx
    st = _state(ctx)
    connection = _connection(st, con)
    if connection is None:
        return -1
    result = None
    if res is not None:
        result = _result(st, res)
        if result is None:
            return -1
        result.reset()
    out = _execute(ctx, st, connection, query, "sql_query")
    if out is None:
        return -1
    if result is not None and out.rows and out.columns:
        result.columns = out.columns
        result.rows = [[_readable(v) for v in row] for row in out.rows]
    return 0


def sql_xquery(con: str, query: str, xavp: str) -> int:
    """Run ``query``; each row becomes an item of ``$xavp(xavp)`` (the first row at
    index 0, before any items already there), a field per column. 1, or -1."""
    ctx = state.ctx
    st = _state(ctx)
    connection = _connection(st, con)
    if connection is None:
        return -1
    out = _execute(ctx, st, connection, query, "sql_xquery")
    if out is None:
        return -1
    if out.rows and out.columns:
        items = []
        for row in out.rows:
            item = _Item()
            for name, value in zip(out.columns, row, strict=True):
                item.setdefault(name, []).append(_readable(value))
            items.append(item)
        stacks = ctx.avps.setdefault(_XAVPS, {})
        stacks[str(xavp)] = items + stacks.get(str(xavp), [])
    return 1


_SEPARATORS = " \t,;\n"


def _pv_names(text: str) -> list[str] | None:
    """sql_pvquery's result list ("$var(a), $avp(b)"): the names, None if one is none."""
    names, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in _SEPARATORS:
            pos += 1
        if pos >= len(text):
            return names or None
        try:
            _, end = scan_pv(text, pos)
        except BadName:
            return None
        names.append(text[pos:end])
        pos = end


def _pv_value(value: Any) -> Any:
    """db_val2pv_spec: a BIGINT that fits 32 bits unsigned is set as a (signed) number."""
    if isinstance(value, BigInt):
        if 0 <= value < INT32:
            return int(value) - INT32 if value >= 1 << 31 else int(value)
        return str(value)
    return value


def sql_pvquery(con: str, query: str, res: str) -> int:
    """Run ``query`` (its variables replaced first) and set the variables of ``res``
    from the columns, row after row from the last: a ``$var`` ends with the first row's
    value, an ``$avp`` gets one per row (NULL skipped). 1 with rows, 2 without, -1."""
    ctx = state.ctx
    st = _state(ctx)
    connection = _connection(st, con)
    if connection is None:
        return -1
    names = _pv_names(str(res))
    if names is None:
        log.error("sql_pvquery: invalid result parameter [%s]", res)
        return -1
    out = _execute(ctx, st, connection, pv._expand(str(query)), "sql_pvquery")
    if out is None:
        return -1
    if not out.rows or not out.columns:
        return 2
    for row in reversed(out.rows):
        for j, value in enumerate(row):
            if j >= len(names):
                log.error("sql_pvquery: missing pv spec for column %d", j + 1)
                return -1
            name = names[j]
            value = _pv_value(value)
            if value is None:
                if parse(name).pv != "avp":  # NULL: an AVP is left alone
                    pv.unset(name)
            elif isinstance(value, int):
                pv.seti(name, value)
            else:
                pv.sets(name, value)
    return 1


def sql_query_async(con: str, query: str) -> int:
    """Run ``query`` without waiting for it (no result). 1 when handed to the database
    worker; -1 for SQLite, as Kamailio's db_sqlite has no async query."""
    ctx = state.ctx
    st = _state(ctx)
    connection = _connection(st, con)
    if connection is None:
        return -1
    if connection.engine == "sqlite":
        log.error("sql_query_async: the db driver module doesn't support async query")
        return -1
    job = partial(run, connection, str(query), _own_database(ctx, st))
    worker = getattr(ctx.parts, "db", None)

    def done(out: Any, error: BaseException | None) -> None:
        if error is not None or out.error is not None:
            log.error("sql_query_async: cannot do the query [%.64s]: %s", query,
                      out.error if error is None else error)  # fmt: skip

    if worker is None:
        done(job(), None)
    else:
        worker.submit(job, done)
    return 1


def sql_result_free(res: str) -> int:
    result = _result(_state(state.ctx), res)
    if result is not None:
        result.reset()
    return 1


def sql_num_rows(res: str) -> int:
    result = _result(_state(state.ctx), res)
    return -1 if result is None else len(result.rows)


def sql_num_columns(res: str) -> int:
    result = _result(_state(state.ctx), res)
    return -1 if result is None else len(result.columns)


def sql_is_null(res: str, row: int, col: int) -> int:
    """1 when the cell is NULL, 0 when not, -1 outside the result."""
    result = _result(_state(state.ctx), res)
    if result is None:
        return -1
    inside, value = result.cell(int(row), int(col))
    if not inside:
        log.error("sql_is_null: index [%s,%s] out of bounds", row, col)
        return -1
    return 1 if value is None else 0


def _result_get(null: Any) -> Callable[[str, int, int], Any]:
    def get(res: str, row: int, col: int) -> Any:
        result = _result(_state(state.ctx), res)
        value = result.cell(int(row), int(col))[1] if result is not None else None
        return null if value is None else value

    return get


def sqlops_functions() -> dict[str, Any]:
    """``KSR.sqlops``."""
    return dict(
        sql_query=sql_query, sql_xquery=sql_xquery, sql_pvquery=sql_pvquery,
        sql_query_async=sql_query_async, sql_result_free=sql_result_free,
        sql_num_rows=sql_num_rows, sql_num_columns=sql_num_columns, sql_is_null=sql_is_null,
        sql_result_get=_result_get(None), sql_result_gete=_result_get(""),
        sql_result_getz=_result_get(0),
    )  # fmt: skip


# ------------------------------------------------------------------ $dbr, $sqlrows

_DBR = re.compile(r"\s*([^=\s]+)\s*=>(.*?)\s*\Z", re.S)  # no blank after =>
_CELL = re.compile(r"\[\s*([^,\s]+)\s*,\s*([^\]\s]+)\s*\]\Z")
_COLNAME = re.compile(r"colname\s*\[([^\]\s]+)\s*\]\Z")


def _index(text: str) -> Callable[[MsgContext], int | None]:
    """A $dbr index: a number, or a variable read at each use (not a number: null)."""
    if text.startswith("$"):
        scan_pv(text, 0, whole=True)

        def read(_ctx: MsgContext) -> int | None:
            value = pv.get(text)
            try:
                return int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None

        return read
    number = int(text)
    return lambda _ctx: number


def dbr_getter(arg: str) -> Callable[[MsgContext], Any]:
    """``$dbr(name=>rows)``, ``=>cols``, ``=>[row,col]``, ``=>colname[col]`` as a reader;
    ValueError for another form. Outside the result: null."""
    m = _DBR.match(arg)
    if m is None:
        raise ValueError(f"$dbr({arg}): expected $dbr(result=>key)")
    name, key = m.groups()
    if key in ("rows", "cols"):
        rows = key == "rows"

        def count(ctx: MsgContext) -> Any:
            res = _result(_state(ctx), name)
            return None if res is None else len(res.rows if rows else res.columns)

        return count
    try:
        if cell := _CELL.match(key):
            row, col = _index(cell.group(1)), _index(cell.group(2))

            def value(ctx: MsgContext) -> Any:
                res = _result(_state(ctx), name)
                r, c = row(ctx), col(ctx)
                if res is None or r is None or c is None:
                    return None
                return res.cell(r, c)[1]

            return value
        if colname := _COLNAME.match(key):
            col = _index(colname.group(1))

            def column(ctx: MsgContext) -> Any:
                res = _result(_state(ctx), name)
                c = col(ctx)
                if res is None or c is None or not 0 <= c < len(res.columns):
                    return None
                return res.columns[c]

            return column
    except (BadName, ValueError):
        raise ValueError(f"$dbr({arg}): invalid index") from None
    raise ValueError(f"$dbr({arg}): unknown key [{key}]")


def sqlrows_getter(arg: str) -> Callable[[MsgContext], Any]:
    """``$sqlrows(con)``: the rows the connection's last statement changed; null on
    SQLite (db_sqlite lacks DB_CAP_AFFECTED_ROWS) and before any statement."""
    name = arg.strip()

    def rows(ctx: MsgContext) -> Any:
        con = _state(ctx).cons.get(name)
        if con is None or con.engine == "sqlite":
            log.error("$sqlrows(%s): no affected rows for this connection", name)
            return None
        return con.affected

    return rows


pv.NAMED.update(dbr=dbr_getter, sqlrows=sqlrows_getter)
