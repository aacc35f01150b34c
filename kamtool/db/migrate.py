"""Upgrading tables of other Kamailio versions to 5.6's schema, where the change is known."""

from __future__ import annotations

from typing import Any

import peewee

from kamtool.db import ddl, schema
from kamtool.db.connect import existing_tables, read_versions
from kamtool.db.fields import engine_of


def _column_sql_for_add(engine: str, col: schema.Column) -> str:
    return ddl.column_sql(engine, col)


def plan_migration(db: peewee.Database) -> dict[str, Any]:
    """Compare the database with Kamailio 5.6's schema, table by table.

    A table needs work when its ``version`` row differs from 5.6's (or is missing).
    The upgrade is *known* when it is additive: the 5.6 columns that are missing can
    be added (nullable or with a default) and the missing indexes created, and no
    column left in the table would break Kamailio's inserts (an extra NOT NULL column
    without a default). Anything else (type changes, dropped columns holding data,
    newer versions than 5.6) is reported, not touched.
    """
    engine = engine_of(db)
    present = existing_tables(db)
    versions = read_versions(db)
    plan: list[dict[str, Any]] = []
    for t in schema.tables().values():
        if t.name not in present:
            continue
        found = versions.get(t.name)
        if found == t.version:
            continue
        entry: dict[str, Any] = {"table": t.name, "found": found, "expected": t.version}
        problems: list[str] = []
        actual = {c.name: c for c in db.get_columns(t.name)}
        add = [c for c in t.columns if c.name not in actual]
        for c in add:
            if not c.null and not c.has_default and not c.autoincrement:
                problems.append(f"column {c.name} is NOT NULL without a default")
        known = {c.name for c in t.columns}
        extra = [name for name, info in actual.items() if name not in known and not info.null]
        extra_ok = [name for name, info in actual.items() if name not in known and info.null]
        for name in extra:
            problems.append(f"column {name} is not in 5.6 and is NOT NULL")
        if found is not None and found > t.version:
            problems.append(f"version {found} is newer than Kamailio 5.6's {t.version}")
        # Matched by columns and uniqueness: SQLite does not keep UNIQUE constraint names.
        have_idx = {(tuple(i.columns), bool(i.unique)) for i in db.get_indexes(t.name)}
        missing_idx = [i for i in t.indexes if (i.columns, i.unique) not in have_idx]
        steps = [f"ALTER TABLE {t.name} ADD COLUMN {_column_sql_for_add(engine, c)}" for c in add]
        steps += [
            f"CREATE {'UNIQUE ' if i.unique else ''}INDEX {ddl.index_name(engine, t, i)}"
            for i in missing_idx
        ]
        steps.append(f"version {t.name} = {t.version}")
        entry.update(
            add_columns=[c.name for c in add],
            add_indexes=[i.name for i in missing_idx],
            kept_columns=extra_ok,
            steps=steps,
            upgradable=not problems,
            problems=problems,
        )
        plan.append(entry)
    return {"tables": plan}


def apply_upgrade(db: peewee.Database, t: schema.Table, entry: dict[str, Any]) -> None:
    engine = engine_of(db)
    q = ddl.quote
    with db.atomic():
        for name in entry["add_columns"]:
            col = t.column(name)
            db.execute_sql(
                f"ALTER TABLE {q(engine, t.name)} ADD COLUMN {ddl.column_sql(engine, col)}"
            )
        for iname in entry["add_indexes"]:
            idx = next(i for i in t.indexes if i.name == iname)
            cols = ", ".join(q(engine, c) for c in idx.columns)
            kind = "UNIQUE INDEX" if idx.unique else "INDEX"
            iname_q = q(engine, ddl.index_name(engine, t, idx))
            db.execute_sql(f"CREATE {kind} {iname_q} ON {q(engine, t.name)} ({cols})")
        ph = db.param
        vt = q(engine, "version")
        cur = db.execute_sql(
            f"UPDATE {vt} SET table_version = {ph} WHERE table_name = {ph}", (t.version, t.name)
        )
        if cur.rowcount == 0:
            db.execute_sql(
                f"INSERT INTO {vt} (table_name, table_version) VALUES ({ph}, {ph})",
                (t.name, t.version),
            )
