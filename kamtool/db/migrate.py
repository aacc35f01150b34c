"""Upgrading tables of other Kamailio versions to 5.6's schema, where the change is known."""

from __future__ import annotations

import re
from typing import Any

from kamtool.db import ddl, schema
from kamtool.db.connect import existing_tables, read_versions
from kamtool.db.fields import engine_of
from kamtool.db.orm import peewee
from kamtool.sip.ha1 import ha1, ha1b


def varchar_sizes(db: peewee.Database, table: str) -> dict[str, int]:
    """Declared VARCHAR sizes of a table's columns, on any engine."""
    engine = engine_of(db)
    if engine == "sqlite":
        out = {}
        for row in db.execute_sql(f'PRAGMA table_info("{table}")'):
            m = re.fullmatch(r"\s*(?:VAR)?CHAR\s*\((\d+)\)\s*", str(row[2]), re.I)
            if m:
                out[row[1]] = int(m.group(1))
        return out
    where = "TABLE_SCHEMA = DATABASE()" if engine == "mysql" else "table_schema = 'public'"
    cur = db.execute_sql(
        "SELECT column_name, character_maximum_length FROM information_schema.columns "
        f"WHERE {where} AND table_name = {db.param} AND character_maximum_length IS NOT NULL",
        (table,),
    )
    return {str(name): int(size) for name, size in cur.fetchall()}


def missing_from_groups(present: set[str]) -> list[schema.Table]:
    """Tables missing from a group that is otherwise installed: dropped by hand (or lost),
    while Kamailio's modules of that group still expect them. A group none of whose
    tables exist is simply not installed and is not reported."""
    out = []
    for group in schema.GROUP_NAMES:
        tables = [t for t in schema.tables_in([group]) if t.name != "version"]
        if any(t.name in present for t in tables):
            out += [t for t in tables if t.name not in present]
    return out


def plan_migration(db: peewee.Database) -> dict[str, Any]:
    """Compare the database with Kamailio 5.6's schema, table by table.

    A table needs work when its ``version`` row differs from 5.6's (or is missing).
    The upgrade is *known* when it is additive: the 5.6 columns that are missing can
    be added (nullable or with a default) and the missing indexes created, and no
    column left in the table would break Kamailio's inserts (an extra NOT NULL column
    without a default). Anything else (VARCHAR sizes that differ, NOT NULL columns
    without a default, versions newer than 5.6) is reported, not touched. Columns that
    5.6 does not have are kept (``kept_columns``).
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
        for name, info in actual.items():
            if name not in known and not info.null and info.default is None:
                problems.append(f"column {name} is not in 5.6 and NOT NULL without a default")
        extra_ok = [name for name in actual if name not in known]
        sizes = varchar_sizes(db, t.name)
        for c in t.columns:
            if c.type == "string" and c.name in sizes and sizes[c.name] != c.size:
                problems.append(
                    f"column {c.name} is VARCHAR({sizes[c.name]}), 5.6 has VARCHAR({c.size})"
                )
        if found is not None and found > t.version:
            problems.append(f"version {found} is newer than Kamailio 5.6's {t.version}")
        # Matched by columns and uniqueness: SQLite does not keep UNIQUE constraint names.
        have_idx = {(tuple(i.columns), bool(i.unique)) for i in db.get_indexes(t.name)}
        missing_idx = [i for i in t.indexes if (i.columns, i.unique) not in have_idx]
        steps = [f"ALTER TABLE {t.name} ADD COLUMN {ddl.column_sql(engine, c)}" for c in add]
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
    missing = [
        {"table": t.name, "group": t.group, "expected": t.version}
        for t in missing_from_groups(present)
    ]
    return {"tables": plan, "missing": missing}


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
        if t.name == "subscriber":
            _fill_hashes(db, set(entry["add_columns"]) & {"ha1", "ha1b"})
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


def _fill_hashes(db: peewee.Database, added: set[str]) -> None:
    """Compute the hash columns the upgrade just added (empty by their DEFAULT) from the
    stored plain passwords, as kamctl computes them: otherwise every user fails digest
    where Kamailio reads that column (ha1b: usernames given as user@domain)."""
    engine = engine_of(db)
    present = {c.name for c in db.get_columns("subscriber")}
    if not added or "password" not in present:
        return
    q = ddl.quote
    ph = db.param
    rows = db.execute_sql(
        f"SELECT {q(engine, 'id')}, {q(engine, 'username')}, {q(engine, 'domain')}, "
        f"{q(engine, 'password')} FROM {q(engine, 'subscriber')}"
    ).fetchall()
    for row_id, user, domain, password in rows:
        if not password:
            continue
        values = {"ha1": ha1(user, domain, password), "ha1b": ha1b(user, domain, password)}
        sets = ", ".join(f"{q(engine, c)} = {ph}" for c in sorted(added))
        db.execute_sql(
            f"UPDATE {q(engine, 'subscriber')} SET {sets} WHERE {q(engine, 'id')} = {ph}",
            (*[values[c] for c in sorted(added)], row_id),
        )
