"""Raw SQL on the Kamailio database: ``kamtool db query | show | runfile | showcreate``.

Read-only unless asked otherwise, and enforced by the engine, not by looking at the SQL:

* SQLite: the file is opened read-only (``mode=ro``); the driver runs one statement per
  call, so nothing can reopen it for writing;
* MariaDB/MySQL: the session and the transaction are ``READ ONLY`` (error 1792 on any
  write, DDL included); PyMySQL sends one statement per call;
* PostgreSQL: ``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`` and a read-only
  transaction that has taken its snapshot (so ``SET TRANSACTION READ WRITE`` is refused);
  the transaction is always rolled back. psycopg2 sends a whole string, so a deliberate
  ``COMMIT; SET SESSION CHARACTERISTICS ... READ WRITE; ...`` escapes: for a guarantee
  against a hostile user, connect as kamdbctl's read-only user (DBROUSER).

With ``write=True`` the statements run in one transaction that is committed at the end
(MariaDB commits DDL implicitly, as always).
"""

from __future__ import annotations

import decimal
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kamtool.db.connect import DbUrl, open_database, parse_url
from kamtool.db.orm import peewee
from kamtool.errors import BadInput, DatabaseUnavailable, NotFound

READ_ONLY_HINT = "add --write to change the database"


@dataclass
class StatementResult:
    """What one statement gave: its rows (when it returns any) or the rows it changed."""

    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    rowcount: int = -1

    @property
    def returns_rows(self) -> bool:
        return bool(self.columns)

    def to_dict(self) -> dict[str, Any]:
        if self.returns_rows:
            return {"sql": self.sql, "columns": self.columns, "rows": self.rows}
        return {"sql": self.sql, "rowcount": self.rowcount}


def _plain(value: Any) -> Any:
    """A driver value made printable/JSON-able (Decimal, memoryview)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _sql_error(exc: Exception, write: bool) -> BadInput | DatabaseUnavailable:
    """A driver error while running the user's SQL: their input, mostly (exit 2)."""
    text = _describe(exc)
    read_only = any(
        s in text.lower()
        for s in ("read only", "read-only", "readonly", "query_only")
    )
    if read_only and not write:
        return BadInput(f"the database refused a write in read-only mode: {text}",
                        hint=READ_ONLY_HINT)  # fmt: skip
    if isinstance(exc, (peewee.InterfaceError, sqlite3.InterfaceError)):
        return DatabaseUnavailable(f"database error: {text}")
    return BadInput(f"SQL error: {text}")


# --------------------------------------------------------------------------- connections


@contextmanager
def _cursor(url: str, write: bool) -> Iterator[tuple[Any, Any, DbUrl]]:
    """A DB-API (connection, cursor) set up for ``write`` or read-only work; committed
    at the end when writing, rolled back otherwise."""
    u = parse_url(url)
    if u.engine == "sqlite" and not write:
        path = Path(u.path or "").expanduser()
        if not path.is_file():
            raise NotFound(f"no SQLite database at {path}")
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open {path}: {exc}") from exc
        try:
            yield conn, conn.cursor(), u
        finally:
            conn.rollback()
            conn.close()
        return
    db = open_database(url, create_dir=False)
    try:
        conn = db.connection()
        cur = conn.cursor()
        if u.engine == "sqlite":
            conn.isolation_level = None  # explicit BEGIN/COMMIT below
            cur.execute("BEGIN")
        elif u.engine == "mysql":
            conn.autocommit(False)
            cur.execute(f"SET SESSION TRANSACTION {'READ WRITE' if write else 'READ ONLY'}")
            cur.execute(f"START TRANSACTION {'READ WRITE' if write else 'READ ONLY'}")
        else:
            conn.autocommit = False
            if not write:
                conn.rollback()
                conn.autocommit = True
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                conn.autocommit = False
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT 1")  # the snapshot: READ WRITE can no longer be set
                cur.fetchall()
        ok = False
        try:
            yield conn, cur, u
            ok = True
        finally:
            if write and ok:
                conn.commit()
            else:
                conn.rollback()
    finally:
        if not db.is_closed():
            db.close()


def _execute(cur: Any, sql: str, write: bool) -> StatementResult:
    try:
        cur.execute(sql)
        result = StatementResult(sql=sql, rowcount=cur.rowcount)
        if cur.description:
            result.columns = [d[0] for d in cur.description]
            result.rows = [
                {c: _plain(v) for c, v in zip(result.columns, row, strict=False)}
                for row in cur.fetchall()
            ]
    except (peewee.DatabaseError, peewee.InterfaceError, sqlite3.Error, *_driver_errors()) as exc:
        raise _sql_error(exc, write) from None
    return result


def _driver_errors() -> tuple[type[Exception], ...]:
    """The DB-API error classes of the server drivers that are loaded."""
    errors: list[type[Exception]] = []
    if peewee.mysql is not None:
        errors.append(peewee.mysql.Error)
    if peewee.psycopg2 is not None:
        errors.append(peewee.psycopg2.Error)
    return tuple(errors)


# --------------------------------------------------------------------------- commands


def query(url: str, sql: str, *, write: bool = False) -> StatementResult:
    """Run one SQL statement; read-only unless ``write``."""
    if not sql.strip():
        raise BadInput("empty SQL statement")
    with _cursor(url, write) as (_conn, cur, _u):
        return _execute(cur, sql, write)


def run_file(url: str, text: str, *, write: bool = False) -> list[StatementResult]:
    """Run every statement of an SQL script in one transaction (all or nothing)."""
    statements = split_statements(text)
    if not statements:
        raise BadInput("the file holds no SQL statement")
    results = []
    with _cursor(url, write) as (_conn, cur, _u):
        for sql in statements:
            results.append(_execute(cur, sql, write))
    return results


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _table_name(cur: Any, u: DbUrl, table: str) -> str:
    """``table`` checked against the tables the database has (never quoted into SQL
    unchecked)."""
    if not _IDENT.match(table):
        raise BadInput(f"{table!r} is not a table name")
    if u.engine == "sqlite":
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    elif u.engine == "mysql":
        cur.execute("SHOW TABLES")
    else:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    names = {str(r[0]) for r in cur.fetchall()}
    if table not in names:
        raise NotFound(f"no table {table!r} in the database", hint="kamtool dbctl show")
    return table


def _quote(u: DbUrl, name: str) -> str:
    return f"`{name}`" if u.engine == "mysql" else f'"{name}"'


def show_table(url: str, table: str, *, limit: int | None = None) -> StatementResult:
    """Every row of ``table`` (the first ``limit`` by its first column)."""
    if limit is not None and limit < 1:
        raise BadInput(f"--limit must be at least 1, not {limit}")
    with _cursor(url, False) as (_conn, cur, u):
        name = _quote(u, _table_name(cur, u, table))
        sql = f"SELECT * FROM {name} ORDER BY 1" + (f" LIMIT {int(limit)}" if limit else "")
        return _execute(cur, sql, False)


def show_create(url: str, table: str) -> str:
    """The ``CREATE TABLE`` statement of ``table`` as the database describes it (indexes
    included)."""
    with _cursor(url, False) as (_conn, cur, u):
        name = _table_name(cur, u, table)
        if u.engine == "mysql":
            cur.execute(f"SHOW CREATE TABLE {_quote(u, name)}")
            return str(cur.fetchone()[1]) + ";"
        if u.engine == "sqlite":
            cur.execute("SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
                        "ORDER BY type DESC, name", (name,))  # fmt: skip
            return "\n".join(str(r[0]) + ";" for r in cur.fetchall())
        return _postgres_create(cur, name)


def _postgres_create(cur: Any, table: str) -> str:
    """PostgreSQL has no SHOW CREATE TABLE: the statement from its catalogue."""
    cur.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid)
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
        (table,),
    )
    lines = []
    for col, typ, notnull, default in cur.fetchall():
        line = f'    "{col}" {typ}'
        if default is not None:
            line += f" DEFAULT {default}"
        if notnull:
            line += " NOT NULL"
        lines.append(line)
    cur.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = %s::regclass ORDER BY contype, conname""",
        (table,),
    )
    lines += [f'    CONSTRAINT "{n}" {d}' for n, d in cur.fetchall()]
    out = [f'CREATE TABLE "{table}" (\n' + ",\n".join(lines) + "\n);"]
    cur.execute(
        """SELECT indexdef FROM pg_indexes i WHERE tablename = %s AND schemaname = current_schema()
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
           ORDER BY indexname""",
        (table,),
    )
    out += [str(r[0]) + ";" for r in cur.fetchall()]
    return "\n".join(out)


# --------------------------------------------------------------------------- scripts


def split_statements(text: str) -> list[str]:
    """The statements of an SQL script, split at ``;`` outside quotes and comments
    (``--`` and ``/* */`` comments are dropped). PostgreSQL dollar quoting is
    not understood: such a script belongs to ``psql``."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    quote: str | None = None
    while i < n:
        ch = text[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and quote != "`" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                if i + 1 < n and text[i + 1] == quote:  # doubled quote inside a string
                    buf.append(text[i + 1])
                    i += 2
                    continue
                quote = None
            i += 1
            continue
        if ch in "'\"`":
            quote = ch
            buf.append(ch)
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif ch == ";":
            _flush(buf, statements)
        else:
            buf.append(ch)
        i += 1
    if quote:
        raise BadInput(f"unterminated {quote} quote in the SQL script")
    _flush(buf, statements)
    return statements


def _flush(buf: list[str], statements: Sequence[str] | list[str]) -> None:
    sql = "".join(buf).strip()
    buf.clear()
    if sql:
        statements.append(sql)  # type: ignore[union-attr]
