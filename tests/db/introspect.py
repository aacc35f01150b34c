"""Describe a database by introspection, the same way for kamtool's and Kamailio's DDL.

``describe(db)`` returns ``{table: {"columns": [...], "indexes": {...}}}`` plus the
``version`` rows; two databases created from equivalent DDL describe equal.
"""

from __future__ import annotations

import re
from pathlib import Path

import peewee

from kamtool.db.fields import engine_of

KAMAILIO_SQL = Path("/usr/share/kamailio")
DIALECT_DIR = {"sqlite": "db_sqlite", "mysql": "mysql", "postgres": "postgres"}


def kamailio_sql_files(engine: str, groups=("standard", "presence", "extra")) -> list[Path]:
    """Kamailio's own schema files in kamdbctl's module order (see start-kamailio.sh)."""
    from kamtool.db import schema

    mods = schema.group_modules()
    return [KAMAILIO_SQL / DIALECT_DIR[engine] / f"{m}-create.sql" for g in groups for m in mods[g]]


def load_kamailio_schema(db: peewee.Database, groups=("standard", "presence", "extra")) -> None:
    """Create the tables by running Kamailio's ``<module>-create.sql`` files."""
    engine = engine_of(db)
    for path in kamailio_sql_files(engine, groups):
        text = path.read_text()
        if engine == "sqlite":
            db.connection().executescript(text)
        elif engine == "postgres":
            with db.atomic():
                db.execute_sql(text)
        else:
            for stmt in text.split(";\n"):
                if stmt.strip():
                    db.execute_sql(stmt)


def _sqlite(db: peewee.Database) -> dict:
    out = {}
    tables = [
        r[0]
        for r in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for t in tables:
        cols = [
            {"name": r[1], "type": r[2], "notnull": r[3], "default": r[4], "pk": r[5]}
            for r in db.execute_sql(f'PRAGMA table_info("{t}")')
        ]
        idx = {}
        for _seq, name, unique, origin, _partial in db.execute_sql(f'PRAGMA index_list("{t}")'):
            columns = [r[2] for r in db.execute_sql(f'PRAGMA index_info("{name}")')]
            if origin == "u":  # a UNIQUE constraint: SQLite keeps its name only in the SQL text
                name = "constraint:" + ",".join(columns)
            idx[name] = {"unique": bool(unique), "columns": columns}
        sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0]
        for cname, ccols in re.findall(r'CONSTRAINT "?(\w+)"? UNIQUE \(([^)]*)\)', sql):
            columns = [c.strip().strip('"`') for c in ccols.split(",")]
            idx[cname] = idx.pop("constraint:" + ",".join(columns))
        out[t] = {"columns": cols, "indexes": idx}
    return out


def _mysql(db: peewee.Database) -> dict:
    out: dict = {}
    name = db.database
    for t, col, ctype, nullable, default, extra in db.execute_sql(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
        "ORDER BY TABLE_NAME, ORDINAL_POSITION",
        (name,),
    ):
        out.setdefault(t, {"columns": [], "indexes": {}})["columns"].append(
            {"name": col, "type": ctype, "null": nullable, "default": default, "extra": extra}
        )
    for t, iname, non_unique, col in db.execute_sql(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        (name,),
    ):
        entry = out[t]["indexes"].setdefault(iname, {"unique": not non_unique, "columns": []})
        entry["columns"].append(col)
    for t, engine, collation in db.execute_sql(
        "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s",
        (name,),
    ):
        out[t]["engine"] = engine
        out[t]["collation"] = collation
    return out


def _postgres(db: peewee.Database) -> dict:
    out: dict = {}
    for t, col, dtype, length, nullable, default in db.execute_sql(
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
        "column_default FROM information_schema.columns WHERE table_schema = 'public' "
        "ORDER BY table_name, ordinal_position"
    ):
        out.setdefault(t, {"columns": [], "indexes": {}})["columns"].append(
            {"name": col, "type": dtype, "length": length, "null": nullable, "default": default}
        )
    for t, iname, idef in db.execute_sql(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    ):
        out[t]["indexes"][iname] = idef.replace('"', "")
    return out


def describe(db: peewee.Database) -> dict:
    """Tables (columns with type, NULL, default; indexes with columns) and version rows."""
    engine = engine_of(db)
    tables = {"sqlite": _sqlite, "mysql": _mysql, "postgres": _postgres}[engine](db)
    versions = sorted(
        (str(n), int(v)) for n, v in db.execute_sql("SELECT table_name, table_version FROM version")
    )
    return {"tables": tables, "versions": versions}
