"""Per-engine DDL from the one schema source, as ``kamdbctl create`` would build it.

The statements reproduce Kamailio 5.6's ``<module>-create.sql`` for each dialect:

* SQLite: ``id INTEGER PRIMARY KEY``, ``INTEGER``/``SMALLINT``/``REAL``/``TEXT``/``BLOB``,
  ``TIMESTAMP WITHOUT TIME ZONE``; constraint and index names prefixed ``<table>_``.
* PostgreSQL: the same, with ``SERIAL PRIMARY KEY`` and ``BYTEA``.
* MySQL/MariaDB: ``INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY``, ``INT(11)``,
  ``FLOAT(10,2)`` ... (the exact spellings are in the schema), ``DATETIME``,
  ``MEDIUMTEXT``/``MEDIUMBLOB``; bare index names. Indexes are declared inside
  ``CREATE TABLE`` (``KEY name (cols)``) instead of separate ``CREATE INDEX``
  statements: the resulting tables are identical and MariaDB creates them twice as fast.

Every created table gets its ``version`` row, as the schema files insert them.
"""

from __future__ import annotations

from collections.abc import Iterable

from kamtool.db import schema
from kamtool.db.fields import engine_of
from kamtool.db.orm import peewee

_SQLITE_TYPES = {
    "int": "INTEGER",
    "unsigned int": "INTEGER",
    "short": "SMALLINT",
    "unsigned short": "SMALLINT",
    "float": "REAL",
    "text": "TEXT",
    "largetext": "TEXT",
    "binary": "BLOB",
    "largebinary": "BLOB",
    "datetime": "TIMESTAMP WITHOUT TIME ZONE",
}
_PG_TYPES = dict(_SQLITE_TYPES, binary="BYTEA", largebinary="BYTEA")
MYSQL_TYPES = {
    "int": "INT(11)",
    "unsigned int": "INT(10) UNSIGNED",
    "short": "SMALLINT",
    "unsigned short": "SMALLINT UNSIGNED",
    "float": "FLOAT",
    "text": "TEXT",
    "largetext": "MEDIUMTEXT",
    "binary": "BLOB",
    "largebinary": "MEDIUMBLOB",
    "datetime": "DATETIME",
}
ENGINES = ("sqlite", "mysql", "postgres")


def quote(engine: str, name: str) -> str:
    """Quote an identifier (``location.partition`` is reserved on MySQL)."""
    return f"`{name}`" if engine == "mysql" else f'"{name}"'


def column_type(engine: str, col: schema.Column) -> str:
    """The SQL type of ``col`` on ``engine``."""
    if col.type == "string":
        return f"VARCHAR({col.size})"
    if engine == "mysql":
        return col.mysql or MYSQL_TYPES[col.type]
    return (_PG_TYPES if engine == "postgres" else _SQLITE_TYPES)[col.type]


def default_literal(col: schema.Column) -> str | None:
    """The ``DEFAULT`` literal of a column as Kamailio's files spell it, or None."""
    if not col.has_default:
        return None
    if col.default_sql is not None:
        return col.default_sql
    v = col.default
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def column_sql(engine: str, col: schema.Column) -> str:
    q = quote(engine, col.name)
    if col.autoincrement:
        kind = {
            "sqlite": "INTEGER PRIMARY KEY",
            "postgres": "SERIAL PRIMARY KEY",
            "mysql": "INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY",
        }[engine]
        return f"{q} {kind} NOT NULL"
    parts = [q, column_type(engine, col)]
    default = default_literal(col)
    if default is not None:
        parts.append(f"DEFAULT {default}")
    if not col.null:
        parts.append("NOT NULL")
    return " ".join(parts)


def index_name(engine: str, table: schema.Table, index: schema.Index) -> str:
    """Kamailio's name for an index: bare on MySQL, ``<table>_<name>`` elsewhere."""
    return index.name if engine == "mysql" else f"{table.name}_{index.name}"


def create_table_sql(engine: str, table: schema.Table) -> list[str]:
    """``CREATE TABLE`` (and ``CREATE INDEX``) statements for one table."""
    if engine not in ENGINES:
        raise ValueError(engine)
    lines = [column_sql(engine, c) for c in table.columns]
    for idx in table.unique_keys:
        cols = ", ".join(quote(engine, c) for c in idx.columns)
        lines.append(f"CONSTRAINT {quote(engine, index_name(engine, table, idx))} UNIQUE ({cols})")
    if engine == "mysql":
        for idx in table.plain_indexes:
            cols = ", ".join(quote(engine, c) for c in idx.columns)
            lines.append(f"KEY {quote(engine, idx.name)} ({cols})")
    body = ",\n    ".join(lines)
    stmts = [f"CREATE TABLE {quote(engine, table.name)} (\n    {body}\n)"]
    if engine != "mysql":
        for idx in table.plain_indexes:
            cols = ", ".join(quote(engine, c) for c in idx.columns)
            name = quote(engine, index_name(engine, table, idx))
            stmts.append(f"CREATE INDEX {name} ON {quote(engine, table.name)} ({cols})")
    return stmts


def drop_table_sql(engine: str, table: str) -> str:
    return f"DROP TABLE IF EXISTS {quote(engine, table)}"


def script(engine: str, groups: Iterable[str] | None = None) -> str:
    """The whole creation script for ``groups`` as text (for ``dbctl create --sql``)."""
    out: list[str] = []
    for t in schema.tables_in(groups):
        out.extend(s + ";" for s in create_table_sql(engine, t))
        out.append(
            f"INSERT INTO version (table_name, table_version) VALUES ('{t.name}', '{t.version}');\n"
        )
    return "\n".join(out)


def create_tables(
    db: peewee.Database,
    groups: Iterable[str] | None = None,
    tables: Iterable[schema.Table] | None = None,
) -> list[str]:
    """Create the tables of ``groups`` (or exactly ``tables``) with their version rows.

    The ``version`` table is created first when it is missing, because every other
    table registers itself there; an existing one is kept and only the rows of the
    created tables are (re)written. On SQLite and PostgreSQL everything runs in one
    transaction (all or nothing); MySQL commits each DDL statement implicitly.
    Returns the names of the tables created.
    """
    engine = engine_of(db)
    todo = list(tables) if tables is not None else schema.tables_in(groups)
    has_version = "version" in db.get_tables()
    if has_version:  # keep it (it holds the other groups' rows); replace our rows only
        todo = [t for t in todo if t.name != "version"]
    elif all(t.name != "version" for t in todo):
        todo.insert(0, schema.table("version"))
    if not todo:
        return []
    vt = quote(engine, "version")
    ph = db.param
    with db.atomic():
        for t in todo:
            for stmt in create_table_sql(engine, t):
                db.execute_sql(stmt)
        names = [t.name for t in todo] + (["version"] if has_version else [])
        marks = ", ".join(ph for _ in names)
        db.execute_sql(f"DELETE FROM {vt} WHERE table_name IN ({marks})", names)
        rows = [(t.name, t.version) for t in todo]
        if has_version:
            rows.append(("version", schema.table("version").version))
        values = ", ".join(f"({ph}, {ph})" for _ in rows)
        flat = [v for row in rows for v in row]
        db.execute_sql(f"INSERT INTO {vt} (table_name, table_version) VALUES {values}", flat)
    return [t.name for t in todo]


def drop_tables(db: peewee.Database, names: Iterable[str]) -> list[str]:
    """Drop the named tables that exist and delete their ``version`` rows."""
    engine = engine_of(db)
    present = set(db.get_tables())
    dropped = [n for n in names if n in present]
    with db.atomic():
        for n in dropped:
            db.execute_sql(drop_table_sql(engine, n))
        if "version" in present and "version" not in dropped and dropped:
            ph = ", ".join(db.param for _ in dropped)
            db.execute_sql(
                f"DELETE FROM {quote(engine, 'version')} WHERE table_name IN ({ph})", dropped
            )
    return dropped
