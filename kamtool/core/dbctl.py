"""Database administration (``kamtool dbctl``): create, drop, show, backup, restore,
copy and migrate Kamailio 5.6 databases on SQLite, MySQL/MariaDB and PostgreSQL.

Every service takes a database URL and returns plain data (dicts and lists) for the
CLI, RPC server or TUI to render. Long operations report progress through an
optional ``progress(table, done_rows, total_rows)`` callback; nothing here prints.

Backup format (portable between engines): JSON lines, gzip-compressed when the file
name ends in ``.gz``. Line 1 is a header object
``{"format": "kamtool-backup", "format_version": 1, "schema": "kamailio-5.6.3",
"engine": ..., "created": ..., "tables": {name: {"version", "rows", "columns"}}}``;
then, per table, a line ``{"table": name, "columns": [...], "rows": n}`` followed by
``n`` lines that are JSON arrays of values in that column order. Datetimes are
ISO 8601 in UTC (``2026-11-26T11:37:23Z``), binary values base64 text, everything
else plain JSON. The ``version`` table itself is not copied: the target gets the
version rows of its own (Kamailio 5.6) schema, and tables whose version in the
backup differs from 5.6's are refused.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import peewee

from kamtool.db import ddl, schema
from kamtool.db.connect import (
    CREATE_HINT,
    DbUrl,
    existing_tables,
    map_db_errors,
    open_database,
    parse_url,
    read_versions,
)
from kamtool.db.fields import engine_of, parse_datetime_text, to_local_naive
from kamtool.db.models import build_models
from kamtool.errors import AlreadyExists, BadInput, DatabaseUnavailable, NotFound, SchemaError

Progress = Callable[[str, int, int], None]
BACKUP_FORMAT = "kamtool-backup"
BACKUP_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
DEFAULT_RW = ("kamailio", "kamailiorw")
DEFAULT_RO = ("kamailioro", "kamailioro")


def _no_progress(_table: str, _done: int, _total: int) -> None:
    pass


def _check_name(kind: str, name: str) -> str:
    if not _NAME_RE.match(name):
        raise BadInput(f"invalid {kind} name {name!r}")
    return name


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


# --------------------------------------------------------------------------- server level


def _server_connection(u: DbUrl, admin: DbUrl | None) -> Any:
    """A DB-API connection to the server itself (not to ``u.database``), autocommit."""
    a = admin or u
    try:
        if u.engine == "mysql":
            import pymysql

            return pymysql.connect(
                host=a.host,
                port=a.port or 3306,
                user=a.user or "root",
                password=a.password or "",
                autocommit=True,
                connect_timeout=5,
            )
        import psycopg2

        conn = psycopg2.connect(
            host=a.host,
            port=a.port or 5432,
            user=a.user,
            password=a.password,
            dbname=(a.database if admin is not None else None) or "postgres",
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn
    except Exception as exc:  # driver-specific classes; message has no password
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(f"cannot connect to the server of {a.redacted}: {first}") from exc


def ensure_database(u: DbUrl, admin: DbUrl | None = None) -> bool:
    """Create the MySQL/PostgreSQL database of ``u`` unless it exists. True when created."""
    name = _check_name("database", u.database or "")
    try:  # it may exist already, for a user who cannot reach the server's admin database
        open_database(u.url).close()
        return False
    except DatabaseUnavailable:
        pass
    conn = _server_connection(u, admin)
    try:
        with conn.cursor() as cur:
            if u.engine == "mysql":
                cur.execute(
                    "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)
                )
                if cur.fetchone():
                    return False
                cur.execute(f"CREATE DATABASE `{name}`")
            else:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone():
                    return False
                cur.execute(f'CREATE DATABASE "{name}"')
        return True
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot create database {name}: {exc}") from exc
    finally:
        conn.close()


def drop_database(u: DbUrl, admin: DbUrl | None = None) -> bool:
    """Drop the whole MySQL/PostgreSQL database of ``u`` (as ``kamdbctl drop``)."""
    name = _check_name("database", u.database or "")
    conn = _server_connection(u, admin)
    try:
        with conn.cursor() as cur:
            if u.engine == "mysql":
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                return True
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            return True
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot drop database {name}: {exc}") from exc
    finally:
        conn.close()


def create_users(
    u: DbUrl,
    rw: tuple[str, str] = DEFAULT_RW,
    ro: tuple[str, str] = DEFAULT_RO,
    admin: DbUrl | None = None,
    access_hosts: Iterable[str] = (),
) -> list[dict[str, str]]:
    """The read-write and read-only users with kamdbctl's grants.

    MySQL: ``ALL PRIVILEGES ON db.*`` for the read-write user and ``SELECT ON db.*`` for
    the read-only one, for ``localhost``, the URL's host and each ``access_hosts``.
    PostgreSQL: login roles; ALL on the tables and sequences, SELECT for read-only.
    Existing users keep their password and get the grants.
    """
    name = _check_name("database", u.database or "")
    for user in (rw[0], ro[0]):
        _check_name("user", user)
    made: list[dict[str, str]] = []
    conn = _server_connection(u, admin)
    try:
        with conn.cursor() as cur:
            if u.engine == "mysql":
                hosts = list(dict.fromkeys(["localhost", u.host or "localhost", *access_hosts]))
                for (user, pw), grant in ((rw, "ALL PRIVILEGES"), (ro, "SELECT")):
                    for host in hosts:
                        cur.execute(
                            "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, pw)
                        )
                        cur.execute(f"GRANT {grant} ON `{name}`.* TO %s@%s", (user, host))
                        made.append({"user": user, "host": host, "grant": grant})
            else:
                for (user, pw), grant in ((rw, "ALL"), (ro, "SELECT")):
                    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
                    if not cur.fetchone():
                        cur.execute(f'CREATE ROLE "{user}" LOGIN PASSWORD %s', (pw,))
                    made.append({"user": user, "grant": grant})
        if u.engine == "postgres":
            # Table grants are given inside the database itself.
            admin_in_db = DbUrl(**{**(admin or u).__dict__, "database": name})
            conn2 = _server_connection(u, admin_in_db)
            try:
                with conn2.cursor() as cur:
                    cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{rw[0]}", "{ro[0]}"')
                    cur.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{rw[0]}"')
                    cur.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{rw[0]}"')
                    cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{ro[0]}"')
            finally:
                conn2.close()
        return made
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot create users: {exc}") from exc
    finally:
        conn.close()


# --------------------------------------------------------------------------- create / drop


def create(
    url: str,
    groups: Iterable[str] | None = None,
    *,
    users: bool = False,
    rw: tuple[str, str] = DEFAULT_RW,
    ro: tuple[str, str] = DEFAULT_RO,
    admin_url: str | None = None,
    access_hosts: Iterable[str] = (),
) -> dict[str, Any]:
    """``kamdbctl create``: the database (MySQL/PostgreSQL), the tables of ``groups``
    (default all three) with their version rows and, with ``users``, the DB users.

    Raises :class:`AlreadyExists` when any of the tables exists already (nothing is
    changed then).
    """
    chosen = schema.check_groups(groups)
    u = parse_url(url)
    admin = parse_url(admin_url) if admin_url else None
    created_db = False
    if u.engine != "sqlite":
        created_db = ensure_database(u, admin)
    with _open(url) as db:
        present = existing_tables(db)
        wanted = schema.tables_in(chosen)
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
        if u.engine == "sqlite":
            out["users"] = []
            out["note"] = "SQLite has no database users"
        else:
            out["users"] = create_users(u, rw, ro, admin, access_hosts)
    return out


def drop(
    url: str,
    groups: Iterable[str] | None = None,
    *,
    database: bool = False,
    admin_url: str | None = None,
) -> dict[str, Any]:
    """Drop the Kamailio tables of ``groups`` (default all); with ``database`` the whole
    MySQL/PostgreSQL database, or the SQLite file, as ``kamdbctl drop`` does."""
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
                raise NotFound(f"no database file {u.path}")
            return {"url": u.redacted, "dropped_database": True, "files": removed}
        drop_database(u, parse_url(admin_url) if admin_url else None)
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


def _count(db: peewee.Database, table: str) -> int:
    engine = engine_of(db)
    return int(db.execute_sql(f"SELECT COUNT(*) FROM {ddl.quote(engine, table)}").fetchone()[0])


def show(url: str) -> dict[str, Any]:
    """Every Kamailio table: group, present or not, row count, version vs expected.

    ``status`` per table: ``ok``, ``missing`` (not created), ``version_mismatch``,
    ``no_version_row``. ``unknown_tables`` lists tables Kamailio 5.6 does not define.
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
                "rows": _count(db, t.name) if t.name in present else None,
                "version": versions.get(t.name),
                "expected_version": t.version,
            }
            if not entry["exists"]:
                entry["status"] = "missing"
            elif entry["version"] is None:
                entry["status"] = "no_version_row"
            elif entry["version"] != t.version:
                entry["status"] = "version_mismatch"
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
        "unknown_tables": sorted(present - set(schema.tables())),
        "orphan_version_rows": sorted(set(versions) - present),
    }


# --------------------------------------------------------------------------- row streams


def _encode(col: schema.Column, value: Any) -> Any:
    if value is None:
        return None
    if col.type == "datetime" and isinstance(value, datetime):
        aware = value if value.tzinfo else value.astimezone()
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if col.type in ("binary", "largebinary") and isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _decode(col: schema.Column, value: Any) -> Any:
    if value is None:
        return None
    if col.type == "datetime" and isinstance(value, str):
        if value.endswith("Z"):
            try:
                return to_local_naive(datetime.fromisoformat(value[:-1] + "+00:00"))
            except ValueError:
                pass
        parsed = parse_datetime_text(value)
        return parsed if parsed is not None else value
    if col.type in ("binary", "largebinary") and isinstance(value, str):
        return base64.b64decode(value)
    return value


def _data_tables(db: peewee.Database, only: Iterable[str] | None = None) -> list[schema.Table]:
    """Kamailio tables present in ``db`` whose rows are data (all but ``version``)."""
    present = existing_tables(db)
    names = set(only) if only is not None else None
    return [
        t
        for t in schema.tables().values()
        if t.name != "version" and t.name in present and (names is None or t.name in names)
    ]


def _table_columns(db: peewee.Database, table: str) -> list[str]:
    return [c.name for c in db.get_columns(table)]


def _read_rows(
    db: peewee.Database, models: dict[str, Any], t: schema.Table, columns: list[str]
) -> Iterator[list[Any]]:
    model = models[t.name]
    fields = [model._meta.fields[c] for c in columns]
    cols = [t.column(c) for c in columns]
    query = model.select(*fields).order_by(model._meta.primary_key).tuples()
    for row in query.iterator():
        yield [_encode(c, v) for c, v in zip(cols, row, strict=True)]


def _check_versions(t_versions: dict[str, int | None]) -> None:
    bad = {
        name: v
        for name, v in t_versions.items()
        if v is not None and name in schema.tables() and v != schema.table(name).version
    }
    if bad:
        listed = ", ".join(
            f"{n} (version {v}, 5.6 has {schema.table(n).version})" for n, v in bad.items()
        )
        raise SchemaError(
            f"tables of another Kamailio version: {listed}",
            hint="run 'kamtool dbctl migrate' on the source database first",
            tables=bad,
        )


def _prepare_target(db: peewee.Database, names: list[str], replace: bool) -> None:
    """Create missing tables; refuse (or with ``replace`` empty) tables that hold rows."""
    present = existing_tables(db)
    missing = [schema.table(n) for n in names if n not in present]
    if missing:
        ddl.create_tables(db, tables=missing)
    versions = read_versions(db)
    _check_versions({n: versions.get(n) for n in names})
    full = [n for n in names if n in present and _count(db, n) > 0]
    if full and not replace:
        raise AlreadyExists(
            f"target table(s) hold rows: {', '.join(full[:8])}" + (" ..." if len(full) > 8 else ""),
            hint="use --replace to delete their rows first",
            tables=full,
        )
    engine = engine_of(db)
    with db.atomic():
        for n in full:
            db.execute_sql(f"DELETE FROM {ddl.quote(engine, n)}")


def _write_rows(
    db: peewee.Database,
    models: dict[str, Any],
    t: schema.Table,
    columns: list[str],
    rows: Iterable[list[Any]],
    on_rows: Callable[[int], None],
) -> int:
    """Insert decoded rows in batches; returns the count. Unknown columns must be gone."""
    model = models[t.name]
    fields = [model._meta.fields[c] for c in columns]
    cols = [t.column(c) for c in columns]
    batch_size = max(1, 900 // max(1, len(columns)))  # stay under SQLite's variable limit
    count = 0
    batch: list[list[Any]] = []

    def flush() -> None:
        nonlocal batch
        if batch:
            model.insert_many(batch, fields=fields).execute()
            on_rows(len(batch))
            batch = []

    with db.atomic():
        for raw in rows:
            batch.append([_decode(c, v) for c, v in zip(cols, raw, strict=True)])
            count += 1
            if len(batch) >= batch_size:
                flush()
        flush()
    _fix_sequence(db, t)
    return count


def _fix_sequence(db: peewee.Database, t: schema.Table) -> None:
    """After inserting explicit ids, move PostgreSQL's SERIAL sequence past them."""
    if engine_of(db) != "postgres" or not t.primary_key:
        return
    pk = t.primary_key[0]
    db.execute_sql(
        f"SELECT setval(pg_get_serial_sequence('{t.name}', '{pk}'), "
        f'COALESCE(MAX("{pk}"), 1), MAX("{pk}") IS NOT NULL) FROM "{t.name}"'
    )


# --------------------------------------------------------------------------- backup / restore


def _open_file(path: Path, mode: str, gz: bool | None = None) -> IO[str]:
    if path.suffix == ".gz" if gz is None else gz:
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="utf-8")  # type: ignore[arg-type]
    return path.open(mode, encoding="utf-8")


def backup(
    url: str,
    file: str | Path,
    *,
    tables: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write every Kamailio table's rows (or only ``tables``) to ``file`` (see module doc)."""
    progress = progress or _no_progress
    path = Path(file)
    u = parse_url(url)
    with _open(url, must_exist=True) as db:
        models = build_models(db)
        chosen = _data_tables(db, tables)
        versions = read_versions(db)
        columns = {
            t.name: [c for c in _table_columns(db, t.name) if c in {x.name for x in t.columns}]
            for t in chosen
        }
        counts = {t.name: _count(db, t.name) for t in chosen}
        total = sum(counts.values())
        header = {
            "format": BACKUP_FORMAT,
            "format_version": BACKUP_FORMAT_VERSION,
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
        tmp = path.with_name(path.name + ".part")
        try:
            with _open_file(tmp, "w", gz=path.suffix == ".gz") as fh:
                fh.write(json.dumps(header) + "\n")
                for t in chosen:
                    fh.write(
                        json.dumps(
                            {"table": t.name, "columns": columns[t.name], "rows": counts[t.name]}
                        )
                        + "\n"
                    )
                    n = 0
                    for row in _read_rows(db, models, t, columns[t.name]):
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                        n += 1
                        done += 1
                        if n % 500 == 0:
                            progress(t.name, done, total)
                    if n != counts[t.name]:  # rows changed while we read: say so in the header
                        header["tables"][t.name]["rows"] = n
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
        "per_table": counts,
    }


def read_backup_header(file: str | Path) -> dict[str, Any]:
    """The header of a backup file (validated)."""
    path = Path(file)
    try:
        with _open_file(path, "r") as fh:
            return _parse_header(fh.readline(), path)
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc.strerror}") from exc


def _parse_header(line: str, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not a kamtool backup (bad header)") from exc
    if not isinstance(header, dict) or header.get("format") != BACKUP_FORMAT:
        raise BadInput(f"{path} is not a kamtool backup")
    if header.get("format_version") != BACKUP_FORMAT_VERSION:
        raise BadInput(f"{path}: unsupported backup format version {header.get('format_version')}")
    return header


def _sections(fh: IO[str], path: Path) -> Iterator[tuple[str, list[str], Iterator[list[Any]]]]:
    """(table, columns, rows) for each table section of an open backup file."""
    lineno = 1
    while True:
        line = fh.readline()
        lineno += 1
        if not line:
            return
        if not line.strip():
            continue
        try:
            sec = json.loads(line)
            table, columns, n = sec["table"], list(sec["columns"]), int(sec["rows"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"{path}:{lineno}: bad table section") from exc

        def rows(n: int = n, columns: list[str] = columns) -> Iterator[list[Any]]:
            nonlocal lineno
            for _ in range(n):
                raw = fh.readline()
                lineno += 1
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise BadInput(f"{path}:{lineno}: bad row (truncated file?)") from exc
                if not isinstance(row, list) or len(row) != len(columns):
                    raise BadInput(f"{path}:{lineno}: row does not match the columns")
                yield row

        yield table, columns, rows()


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
    header = read_backup_header(path)
    htables: dict[str, Any] = header.get("tables", {})
    unknown = [n for n in htables if n not in schema.tables()]
    if unknown:
        raise SchemaError(f"backup has tables Kamailio 5.6 does not define: {', '.join(unknown)}")
    _check_versions({n: v.get("version") for n, v in htables.items()})
    u = parse_url(url)
    if u.engine != "sqlite":
        ensure_database(u)
    total = sum(int(v.get("rows", 0)) for v in htables.values())
    done = 0
    per_table: dict[str, int] = {}
    with _open(url) as db:
        names = list(htables)
        _prepare_target(db, names, replace)
        models = build_models(db)
        with _open_file(path, "r") as fh:
            fh.readline()
            for table, columns, rows in _sections(fh, path):
                if table not in htables:
                    raise BadInput(f"{path}: table {table} is not in the header")
                t = schema.table(table)
                known = {c.name for c in t.columns}
                bad = [c for c in columns if c not in known]
                if bad:
                    raise SchemaError(f"{table}: unknown column(s) {', '.join(bad)} in the backup")

                def tick(n: int, table: str = table) -> None:
                    nonlocal done
                    done += n
                    progress(table, done, total)

                per_table[table] = _write_rows(db, models, t, columns, rows, tick)
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
        ensure_database(dst_u)
    with _open(url, must_exist=True) as src, _open(to_url) as dst:
        chosen = _data_tables(src)
        versions = read_versions(src)
        _check_versions({t.name: versions.get(t.name) for t in chosen})
        counts = {t.name: _count(src, t.name) for t in chosen}
        total = sum(counts.values())
        _prepare_target(dst, [t.name for t in chosen], replace)
        src_models, dst_models = build_models(src), build_models(dst)
        done = 0
        per_table: dict[str, int] = {}
        for t in chosen:
            known = {c.name for c in t.columns}
            columns = [c for c in _table_columns(src, t.name) if c in known]

            def tick(n: int, table: str = t.name) -> None:
                nonlocal done
                done += n
                progress(table, done, total)

            rows = _read_rows(src, src_models, t, columns)
            per_table[t.name] = _write_rows(dst, dst_models, t, columns, rows, tick)
            progress(t.name, done, total)
    return {
        "from": src_u.redacted,
        "to": dst_u.redacted,
        "tables": len(per_table),
        "rows": sum(per_table.values()),
        "per_table": per_table,
    }


# --------------------------------------------------------------------------- migrate


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


def _apply(db: peewee.Database, t: schema.Table, entry: dict[str, Any]) -> None:
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


def migrate(url: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Upgrade tables whose version differs from Kamailio 5.6's where the change is
    known (see :func:`plan_migration`); report the others. ``dry_run`` only plans."""
    with _open(url, must_exist=True) as db:
        if "version" not in existing_tables(db):
            raise SchemaError("no version table", hint="kamtool dbctl create")
        plan = plan_migration(db)
        upgraded, refused = [], []
        for entry in plan["tables"]:
            if not entry["upgradable"]:
                refused.append(entry)
                continue
            if not dry_run:
                _apply(db, schema.table(entry["table"]), entry)
            upgraded.append(entry)
    return {
        "url": parse_url(url).redacted,
        "dry_run": dry_run,
        "upgraded": upgraded,
        "not_upgradable": refused,
        "up_to_date": not plan["tables"],
    }
