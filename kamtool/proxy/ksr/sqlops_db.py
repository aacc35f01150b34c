"""The database side of ``KSR.sqlops``: the ``[proxy] sqlcon`` connections and a raw
query run on one of them, its rows typed as Kamailio's sqlops types them.

A connection is declared as sqlops' ``sqlcon`` modparam, ``name=>url``; an empty URL
(``"ca=>"``), or the URL of kamtool's own database, is kamtool's own database (the
database worker's connection). Every other URL gets a peewee database of its own, opened
on first use.

:func:`run` is the job the database worker runs: it never raises. A failed statement is
an :class:`Outcome` with its error (and the connection rolled back, or closed when it is
another database, so the next query reconnects): the worker must not take an unknown
table (SQLite's ``OperationalError``) for an outage of kamtool's own database.
"""

from __future__ import annotations

import datetime
import decimal
import re
from dataclasses import dataclass, field
from typing import Any

from kamtool.db.url import db_identity, parse_url
from kamtool.errors import BadInput

__all__ = ["BIGINT", "Outcome", "SqlCon", "parse_sqlcon", "run"]

_SPEC = re.compile(r"\s*([^=\s]+)\s*=>\s*(.*?)\s*\Z", re.S)
INT32 = 1 << 32


class BigInt(int):
    """A BIGINT column's value: ``$dbr`` shows it as a string, ``$xavp`` as a number
    (sqlops' DB1_BIGINT)."""


BIGINT = BigInt


@dataclass
class SqlCon:
    """One declared connection: its name, URL ("" for kamtool's own database) and engine."""

    name: str
    url: str
    engine: str
    database: Any = None  # the peewee database, once opened (None: kamtool's own)
    affected: int | None = None  # rows the last statement changed (or returned)
    own: bool = False


def parse_sqlcon(spec: str, own_url: str = "") -> SqlCon:
    """``name=>url`` (sqlops' ``sqlcon`` syntax) as a :class:`SqlCon`; ValueError when it
    is not that, or the URL is not one kamtool can open."""
    m = _SPEC.match(str(spec))
    if m is None:
        # (the text is not echoed: it may hold a password)
        raise ValueError("sqlcon: expected name=>url (name=> alone: kamtool's database)")
    name, url = m.groups()
    own = not url or (bool(own_url) and db_identity(url) == db_identity(own_url))
    try:
        engine = parse_url(url or own_url).engine if (url or own_url) else "sqlite"
    except BadInput as exc:
        raise ValueError(f"sqlcon {name!r}: {exc}") from None
    return SqlCon(name, "" if own else url, engine, own=own)


@dataclass
class Outcome:
    """What a query gave: column names and typed rows (none for a statement without a
    result set), rows changed, or the error (one line, never the URL)."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    affected: int = 0
    error: str | None = None


def _typed(value: Any, code: Any, engine: str) -> Any:
    """A value as sqlops keeps it: None (NULL), int, :class:`BigInt` or str. A float is
    NULL: sqlops has no case for DB1_DOUBLE (and db_sqlite types REAL columns so)."""
    if value is None or isinstance(value, float):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if _is_bigint(code, engine):
            return BigInt(value)
        value &= INT32 - 1  # a 32-bit int in Kamailio (sqlite3_column_int keeps the low bits)
        return value - INT32 if value >= 1 << 31 else value
    if isinstance(value, datetime.datetime | datetime.date):
        if not isinstance(value, datetime.datetime):
            value = datetime.datetime.combine(value, datetime.time())
        return int(value.timestamp())  # DB1_DATETIME: a time_t
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def _is_bigint(code: Any, engine: str) -> bool:
    """The column type says BIGINT: PyMySQL's LONGLONG (8), PostgreSQL's int8 (OID 20).
    Python's sqlite3 tells no declared type: SQLite integers are INT there."""
    if engine == "mysql":
        return code == 8
    if engine == "postgres":
        return code == 20
    return False


def _database(con: SqlCon, own: Any) -> Any:
    if con.own:
        return own
    if con.database is None:
        from kamtool.db.connect import make_database

        con.database = make_database(parse_url(con.url))
    return con.database


def describe(exc: BaseException) -> str:
    """The first line of a driver's error (drivers do not echo passwords)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def run(con: SqlCon, sql: str, own: Any) -> Outcome:
    """Run ``sql`` on ``con`` (``own``: kamtool's own peewee database); on the database
    worker's thread. Never raises (see the module docstring)."""
    try:
        db = _database(con, own)
        cursor = db.cursor()  # the driver's own: no parameters, so a '%' stays a '%'
        cursor.execute(sql)
        description = cursor.description
        if not description:
            out = Outcome(affected=max(cursor.rowcount, 0))
        else:
            names = [str(d[0]) for d in description]
            codes = [d[1] for d in description]
            rows = [[_typed(v, codes[j], con.engine) for j, v in enumerate(row)]
                    for row in cursor.fetchall()]  # fmt: skip
            out = Outcome(names, rows, cursor.rowcount if cursor.rowcount >= 0 else len(rows))
        cursor.close()
    except Exception as exc:
        _recover(con, own)
        return Outcome(error=describe(exc))
    con.affected = out.affected
    return out


def _recover(con: SqlCon, own: Any) -> None:
    """After a failed statement: roll back (PostgreSQL refuses all else until then);
    close another database's connection, so the next query opens a fresh one."""
    db = own if con.own else con.database
    if db is None:
        return
    try:
        db.rollback()
    except Exception:
        pass
    if not con.own:
        try:
            db.close()
        except Exception:
            pass


def close(con: SqlCon) -> None:
    """Close another database's connection of this thread (at shutdown)."""
    if con.database is not None and not con.own:
        try:
            con.database.close()
        except Exception:
            pass
