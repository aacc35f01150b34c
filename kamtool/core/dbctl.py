"""Database administration (``kamtool dbctl``): create, drop, show, backup, restore,
copy and migrate Kamailio 5.6 databases on SQLite, MySQL/MariaDB and PostgreSQL.

Every service takes a database URL and returns plain data (dicts and lists) for the
CLI, RPC server or TUI to render. Long operations report progress through an
optional ``progress(table, done_rows, total_rows)`` callback; nothing here prints.

The backup file format is described in :mod:`kamtool.db.transfer`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kamtool.db import ddl, schema, server, transfer
from kamtool.db import migrate as migrate_db
from kamtool.db.connect import (
    CREATE_HINT,
    existing_tables,
    map_db_errors,
    open_database,
    parse_url,
    read_versions,
)
from kamtool.db.models import build_models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound, SchemaError

Progress = Callable[[str, int, int], None]


def _no_progress(_table: str, _done: int, _total: int) -> None:
    pass


@contextmanager
def _open(url: str, *, must_exist: bool = False) -> Iterator[peewee.Database]:
    """Open ``url``; with ``must_exist`` a missing SQLite file is :class:`NotFound`
    (instead of silently creating an empty one)."""
    u = parse_url(url)
    if must_exist and u.engine == "sqlite" and not Path(u.path or "").expanduser().exists():
        raise NotFound(f"no database file {u.path}", hint=CREATE_HINT)
    db = open_database(url)
    try:
        with map_db_errors(db):
            yield db
    finally:
        if not db.is_closed():
            db.close()


# --------------------------------------------------------------------------- create / drop


def create(
    url: str,
    groups: Iterable[str] | None = None,
    *,
    users: bool = False,
    rw: tuple[str, str] = server.DEFAULT_RW,
    ro: tuple[str, str] = server.DEFAULT_RO,
    admin_url: str | None = None,
    access_hosts: Iterable[str] = (),
    missing: bool = False,
) -> dict[str, Any]:
    """``kamdbctl create``: the database (MySQL/PostgreSQL), the tables of ``groups``
    (default all three) with their version rows and, with ``users``, the DB users.

    Raises :class:`AlreadyExists` when any of the tables exists already (nothing is
    changed then). With ``missing`` only the tables of ``groups`` that do not exist are
    created (a table dropped by mistake comes back empty; the others are left alone).
    """
    chosen = schema.check_groups(groups)
    u = parse_url(url)
    admin = server.parse_admin_url(admin_url) if admin_url else None
    created_db = False
    made_users: list[dict[str, str]] | None = None
    tables_url = url
    if u.engine != "sqlite":
        created_db = server.ensure_database(u, admin)
        if users:
            # As kamdbctl: the users first, then the tables made as the admin (kamdbctl's
            # DBROOTUSER). The URL's user is often the read-write user these calls make,
            # so it cannot connect before. On PostgreSQL the admin's default privileges,
            # set here, give the new tables to both users.
            made_users = server.create_users(u, rw, ro, admin, access_hosts)
            tables_url = server.in_database(admin or u, u.database or "")
    with _open(tables_url) as db:
        present = existing_tables(db)
        wanted = schema.tables_in(chosen)
        if missing:
            wanted = [t for t in wanted if t.name not in present]
        # an existing version table is reused (it may hold the other groups' rows)
        clash = [t.name for t in wanted if t.name in present and t.name != "version"]
        if clash:
            raise AlreadyExists(
                f"{len(clash)} table(s) exist already: {', '.join(clash[:8])}"
                + (" ..." if len(clash) > 8 else ""),
                hint="kamtool dbctl reinit (drops them first), or --group for other groups",
                tables=clash,
            )
        made = ddl.create_tables(db, tables=wanted)
    out: dict[str, Any] = {
        "url": u.redacted,
        "engine": u.engine,
        "groups": list(chosen),
        "database_created": created_db,
        "tables": made,
    }
    if users:
        out["users"] = made_users or []
        if u.engine == "sqlite":
            out["note"] = "SQLite has no database users"
    return out


def default_admin_url(url: str, root_url: str | None) -> str | None:
    """kamctlrc's DBROOTUSER URL (``root_url``) as the admin of ``url`` when both name
    the same server, as kamdbctl connects as DBROOTUSER; otherwise none (``url`` itself
    then creates the database and users)."""
    if not root_url:
        return None
    u = parse_url(url)
    if u.engine == "sqlite":
        return None
    return root_url if server.same_server(u, server.parse_admin_url(root_url)) else None


def drop(
    url: str,
    groups: Iterable[str] | None = None,
    *,
    database: bool = False,
    admin_url: str | None = None,
) -> dict[str, Any]:
    """Drop the Kamailio tables of ``groups`` (default all); with ``database`` the whole
    MySQL/PostgreSQL database, or the SQLite file, as ``kamdbctl drop`` does (the CLI's
    default when no group is named)."""
    chosen = schema.check_groups(groups)
    u = parse_url(url)
    if database:
        if u.engine == "sqlite":
            removed = []
            for suffix in ("", "-wal", "-shm", "-journal"):
                p = Path(u.path + suffix)  # type: ignore[operator]
                if p.exists():
                    p.unlink()
                    removed.append(str(p))
            if not removed:
                raise NotFound(f"no database file {u.path}", hint=CREATE_HINT)
            return {"url": u.redacted, "dropped_database": True, "files": removed}
        admin = server.parse_admin_url(admin_url) if admin_url else None
        if not server.drop_database(u, admin):
            raise NotFound(f"no database {u.database} on {u.redacted}", hint=CREATE_HINT)
        return {"url": u.redacted, "dropped_database": True}
    with _open(url, must_exist=True) as db:
        names = [t.name for t in schema.tables_in(chosen) if t.name != "version"]
        others = existing_tables(db) & (set(schema.tables()) - set(names) - {"version"})
        if "standard" in chosen and not others:
            names.append("version")  # last, and only when no other group's tables remain
        dropped = ddl.drop_tables(db, names)
    return {"url": u.redacted, "groups": list(chosen), "tables": dropped}


def reinit(url: str, groups: Iterable[str] | None = None) -> dict[str, Any]:
    """Drop and create the tables of ``groups`` (all data in them is lost)."""
    dropped = drop(url, groups)
    created = create(url, groups)
    return {**created, "dropped": dropped["tables"]}


def create_script(engine: str, groups: Iterable[str] | None = None) -> str:
    """The DDL ``create`` would run on ``engine``, as SQL text."""
    if engine not in ddl.ENGINES:
        raise BadInput(f"unknown engine {engine!r}", hint="sqlite, mysql or postgres")
    return ddl.script(engine, schema.check_groups(groups))


# --------------------------------------------------------------------------- show


def show(url: str) -> dict[str, Any]:
    """Every Kamailio table: group, present or not, row count, version vs expected.

    ``status`` per table: ``ok``, ``missing`` (not created), ``version_mismatch``,
    ``no_version_row``. ``missing_tables`` names the missing tables of groups that are
    otherwise installed (dropped: Kamailio's modules will fail on them).
    ``unknown_tables`` lists tables Kamailio 5.6 does not define.
    """
    u = parse_url(url)
    with _open(url, must_exist=True) as db:
        present = existing_tables(db)
        versions = read_versions(db)
        rows = []
        for t in schema.tables().values():
            entry: dict[str, Any] = {
                "table": t.name,
                "group": t.group,
                "exists": t.name in present,
                "rows": transfer.count_rows(db, t.name) if t.name in present else None,
                "version": versions.get(t.name),
                "expected_version": t.version,
            }
            if not entry["exists"]:
                entry["status"] = "missing"
            elif entry["version"] is None:
                entry["status"] = "no_version_row"
            elif entry["version"] != t.version:
                entry["status"] = "version_mismatch"
                if entry["version"] == t.kamailio_files_version:
                    entry["note"] = (
                        f"kamdbctl writes {t.kamailio_files_version}, Kamailio's usrloc "
                        f"refuses it (wants {t.version}): kamtool dbctl migrate"
                    )
            else:
                entry["status"] = "ok"
            rows.append(entry)
    groups_installed = {
        g: all(r["exists"] for r in rows if r["group"] == g) for g in schema.GROUP_NAMES
    }
    return {
        "url": u.redacted,
        "engine": u.engine,
        "schema": f"kamailio-{schema.kamailio_version()}",
        "groups": groups_installed,
        "tables": rows,
        "mismatches": [r for r in rows if r["status"] in ("version_mismatch", "no_version_row")],
        "missing_tables": [t.name for t in migrate_db.missing_from_groups(present)],
        "unknown_tables": sorted(present - set(schema.tables())),
        "orphan_version_rows": sorted(set(versions) - present),
    }


# --------------------------------------------------------------------------- backup / restore


def backup(
    url: str,
    file: str | Path,
    *,
    tables: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write every Kamailio table's rows (or only ``tables``) to ``file``; the format is
    described in :mod:`kamtool.db.transfer`. Written to ``FILE.part``, then renamed."""
    progress = progress or _no_progress
    path = Path(file)
    u = parse_url(url)
    with _open(url, must_exist=True) as db, transfer.snapshot(db):
        models = build_models(db)
        chosen = transfer.data_tables(db, tables)
        versions = read_versions(db)
        columns = {
            t.name: [
                c for c in transfer.table_columns(db, t.name) if c in {x.name for x in t.columns}
            ]
            for t in chosen
        }
        counts = {t.name: transfer.count_rows(db, t.name) for t in chosen}
        total = sum(counts.values())
        header = {
            "format": transfer.BACKUP_FORMAT,
            "format_version": transfer.BACKUP_FORMAT_VERSION,
            "schema": f"kamailio-{schema.kamailio_version()}",
            "engine": u.engine,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tables": {
                t.name: {
                    "version": versions.get(t.name),
                    "rows": counts[t.name],
                    "columns": columns[t.name],
                }
                for t in chosen
            },
        }
        done = 0
        written: dict[str, int] = {}
        tmp = path.with_name(path.name + ".part")
        try:
            with transfer.open_backup_file(tmp, "w", gz=path.suffix == ".gz") as fh:
                fh.write(json.dumps(header) + "\n")
                for t in chosen:
                    fh.write(json.dumps({"table": t.name, "columns": columns[t.name]}) + "\n")
                    n = 0
                    for row in transfer.read_rows(db, models, t, columns[t.name]):
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                        n += 1
                        if n % 500 == 0:
                            progress(t.name, done + n, total)
                    done += n
                    written[t.name] = n
                    progress(t.name, done, total)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise BadInput(f"cannot write {path}: {exc.strerror}") from exc
    return {
        "file": str(path),
        "url": u.redacted,
        "tables": len(chosen),
        "rows": done,
        "per_table": written,
    }


def restore(
    url: str,
    file: str | Path,
    *,
    replace: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Load a backup into ``url``: missing tables are created (and on MySQL/PostgreSQL
    the database), tables holding rows are refused unless ``replace``."""
    progress = progress or _no_progress
    path = Path(file)
    header = transfer.read_backup_header(path)
    htables: dict[str, Any] = header.get("tables", {})
    unknown = [n for n in htables if n not in schema.tables()]
    if unknown:
        raise SchemaError(f"backup has tables Kamailio 5.6 does not define: {', '.join(unknown)}")
    transfer.check_versions({n: v.get("version") for n, v in htables.items()})
    # the whole file is checked before the target is touched: a truncated or damaged
    # backup changes nothing
    counts = transfer.validate_backup(path, header)
    u = parse_url(url)
    if u.engine != "sqlite":
        server.ensure_database(u)
    total = sum(counts.values())
    done = 0
    per_table: dict[str, int] = {}
    with _open(url) as db:
        names = list(htables)
        full = transfer.prepare_target(db, names, replace)
        models = build_models(db)
        # one transaction for the DELETEs and the INSERTs: a failure or a kill -9 at any
        # point leaves the old rows (SQLite's journal, PostgreSQL and InnoDB roll back)
        with transfer.open_backup_file(path, "r") as fh, db.atomic():
            transfer.empty_tables(db, full)
            fh.readline()
            for table, columns, rows in transfer.read_sections(fh, path):
                t = schema.table(table)

                def tick(n: int, table: str = table) -> None:
                    nonlocal done
                    done += n
                    progress(table, done, total)

                per_table[table] = transfer.write_rows(db, models, t, columns, rows, tick)
                progress(table, done, total)
    return {
        "file": str(path),
        "url": u.redacted,
        "tables": len(per_table),
        "rows": sum(per_table.values()),
        "per_table": per_table,
        "source_engine": header.get("engine"),
    }


def copy(
    url: str,
    to_url: str,
    *,
    replace: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Copy every Kamailio table's rows from ``url`` to ``to_url`` (any engines).

    The target database and missing tables are created; tables that hold rows are
    refused unless ``replace``.
    """
    progress = progress or _no_progress
    src_u, dst_u = parse_url(url), parse_url(to_url)
    if src_u.url == dst_u.url:
        raise BadInput("source and target are the same database")
    if dst_u.engine != "sqlite":
        server.ensure_database(dst_u)
    with _open(url, must_exist=True) as src, _open(to_url) as dst, transfer.snapshot(src):
        chosen = transfer.data_tables(src)
        versions = read_versions(src)
        transfer.check_versions({t.name: versions.get(t.name) for t in chosen})
        counts = {t.name: transfer.count_rows(src, t.name) for t in chosen}
        total = sum(counts.values())
        full = transfer.prepare_target(dst, [t.name for t in chosen], replace)
        src_models, dst_models = build_models(src), build_models(dst)
        done = 0
        per_table: dict[str, int] = {}
        with dst.atomic():  # all or nothing: the old rows go in the same transaction
            transfer.empty_tables(dst, full)
            for t in chosen:
                known = {c.name for c in t.columns}
                columns = [c for c in transfer.table_columns(src, t.name) if c in known]

                def tick(n: int, table: str = t.name) -> None:
                    nonlocal done
                    done += n
                    progress(table, done, total)

                rows = transfer.read_rows(src, src_models, t, columns)
                per_table[t.name] = transfer.write_rows(dst, dst_models, t, columns, rows, tick)
                progress(t.name, done, total)
    return {
        "from": src_u.redacted,
        "to": dst_u.redacted,
        "tables": len(per_table),
        "rows": sum(per_table.values()),
        "per_table": per_table,
    }


def migrate(url: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Upgrade tables whose version differs from Kamailio 5.6's where the change is
    known (see :func:`kamtool.db.migrate.plan_migration`); report the others, and the
    tables missing from an installed group (``kamtool dbctl create --missing`` makes
    them). ``dry_run`` only plans."""
    with _open(url, must_exist=True) as db:
        if "version" not in existing_tables(db):
            raise SchemaError("no version table", hint="kamtool dbctl create")
        plan = migrate_db.plan_migration(db)
        upgraded, refused = [], []
        for entry in plan["tables"]:
            if not entry["upgradable"]:
                refused.append(entry)
                continue
            if not dry_run:
                migrate_db.apply_upgrade(db, schema.table(entry["table"]), entry)
            upgraded.append(entry)
    return {
        "url": parse_url(url).redacted,
        "dry_run": dry_run,
        "upgraded": upgraded,
        "not_upgradable": refused,
        "missing_tables": plan["missing"],
        "up_to_date": not plan["tables"] and not plan["missing"],
    }
