"""Moving rows between databases and backup files, engine-neutrally.

Backup format (portable between engines): JSON lines, gzip-compressed when the file
name ends in ``.gz``. Line 1 is a header object
``{"format": "kamtool-backup", "format_version": 1, "schema": "kamailio-5.6.3",
"engine": ..., "created": ..., "tables": {name: {"version", "rows", "columns"}}}``
(row counts taken before reading: informational);
then, per table, a line ``{"table": name, "columns": [...]}`` followed by one line
per row: a JSON array of values in that column order. Datetimes are
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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from kamtool.db import ddl, schema
from kamtool.db.connect import existing_tables, read_versions
from kamtool.db.fields import engine_of, parse_datetime_text, to_local_naive
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound, SchemaError

BACKUP_FORMAT = "kamtool-backup"
BACKUP_FORMAT_VERSION = 1


@contextmanager
def snapshot(db: peewee.Database) -> Iterator[None]:
    """A read transaction in which every table is seen at one point in time (REPEATABLE
    READ; SQLite's read transactions are snapshots), so a backup of a live database
    is consistent across tables."""
    engine = engine_of(db)
    if engine == "mysql":  # before BEGIN: it applies to the next transaction
        db.execute_sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with db.atomic():
        if engine == "postgres":  # the first statement of the transaction
            db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def count_rows(db: peewee.Database, table: str) -> int:
    engine = engine_of(db)
    return int(db.execute_sql(f"SELECT COUNT(*) FROM {ddl.quote(engine, table)}").fetchone()[0])


def encode_value(col: schema.Column, value: Any) -> Any:
    if value is None:
        return None
    if col.type == "datetime" and isinstance(value, datetime):
        aware = value if value.tzinfo else value.astimezone()
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if col.type in ("binary", "largebinary") and isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def decode_value(col: schema.Column, value: Any) -> Any:
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


def data_tables(db: peewee.Database, only: Iterable[str] | None = None) -> list[schema.Table]:
    """Kamailio tables present in ``db`` whose rows are data (all but ``version``)."""
    present = existing_tables(db)
    names = set(only) if only is not None else None
    return [
        t
        for t in schema.tables().values()
        if t.name != "version" and t.name in present and (names is None or t.name in names)
    ]


def table_columns(db: peewee.Database, table: str) -> list[str]:
    return [c.name for c in db.get_columns(table)]


def read_rows(
    db: peewee.Database, models: dict[str, Any], t: schema.Table, columns: list[str]
) -> Iterator[list[Any]]:
    model = models[t.name]
    fields = [model._meta.fields[c] for c in columns]
    cols = [t.column(c) for c in columns]
    query = model.select(*fields).order_by(model._meta.primary_key).tuples()
    for row in query.iterator():
        yield [encode_value(c, v) for c, v in zip(cols, row, strict=True)]


def check_versions(t_versions: dict[str, int | None]) -> None:
    """Refuse tables of another schema version. The number Kamailio's own schema files
    write where it differs (``aliases`` 8) has the same columns: its rows move as they are."""
    bad = {
        name: v
        for name, v in t_versions.items()
        if v is not None
        and name in schema.tables()
        and v not in (schema.table(name).version, schema.table(name).kamailio_files_version)
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


def prepare_target(db: peewee.Database, names: list[str], replace: bool) -> list[str]:
    """Create missing tables; refuse tables that hold rows unless ``replace``.

    Nothing is deleted here: the tables to empty are returned, for :func:`empty_tables`
    inside the transaction that writes the new rows (old rows or new rows, never none).
    """
    present = existing_tables(db)
    missing = [schema.table(n) for n in names if n not in present]
    if missing:
        ddl.create_tables(db, tables=missing)  # empty tables: nothing to lose if we stop
    versions = read_versions(db)
    check_versions({n: versions.get(n) for n in names})
    full = [n for n in names if n in present and count_rows(db, n) > 0]
    if full and not replace:
        raise AlreadyExists(
            f"target table(s) hold rows: {', '.join(full[:8])}" + (" ..." if len(full) > 8 else ""),
            hint="use --replace to delete their rows first",
            tables=full,
        )
    check_transactional(db, full)
    return full


def check_transactional(db: peewee.Database, names: list[str]) -> None:
    """Refuse to replace the rows of MySQL tables whose engine has no transactions
    (MyISAM, ...): their DELETE could not be undone if the restore fails."""
    if engine_of(db) != "mysql" or not names:
        return
    marks = ", ".join(["%s"] * len(names))
    cursor = db.execute_sql(
        "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
        f"DATABASE() AND TABLE_NAME IN ({marks})",
        names,
    )
    plain = sorted(str(name) for name, eng in cursor.fetchall() if str(eng).lower() != "innodb")
    if plain:
        raise BadInput(
            f"cannot replace rows atomically in non-transactional table(s): {', '.join(plain)}",
            hint="convert them first: ALTER TABLE <name> ENGINE=InnoDB",
            tables=plain,
        )


def empty_tables(db: peewee.Database, names: list[str]) -> None:
    """DELETE every row of ``names``; call inside the transaction that refills them
    (DELETE, not TRUNCATE: TRUNCATE commits on MySQL)."""
    engine = engine_of(db)
    for n in names:
        db.execute_sql(f"DELETE FROM {ddl.quote(engine, n)}")


def validate_backup(path: Path, header: dict[str, Any]) -> dict[str, int]:
    """Read the whole backup once and check it, before anything in the target changes:
    every line JSON, every section a table of the header with known columns, every row
    as wide as its columns and every value decodable. Returns the rows per table."""
    htables: dict[str, Any] = header.get("tables", {})
    counts: dict[str, int] = {}
    try:
        with open_backup_file(path, "r") as fh:
            fh.readline()
            for table, columns, rows in read_sections(fh, path):
                if table not in htables:
                    raise BadInput(f"{path}: table {table} is not in the header")
                t = schema.table(table)
                known = {c.name for c in t.columns}
                bad = [c for c in columns if c not in known]
                if bad:
                    raise SchemaError(f"{table}: unknown column(s) {', '.join(bad)} in the backup")
                cols = [t.column(c) for c in columns]
                n = 0
                for row in rows:
                    for col, value in zip(cols, row, strict=True):
                        try:
                            decode_value(col, value)
                        except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
                            raise BadInput(f"{path}: {table}.{col.name}: bad value") from exc
                    n += 1
                counts[table] = counts.get(table, 0) + n
    except (OSError, EOFError) as exc:
        raise BadInput(f"{path}: unreadable: {exc}") from exc
    return counts


def write_rows(
    db: peewee.Database,
    models: dict[str, Any],
    t: schema.Table,
    columns: list[str],
    rows: Iterable[list[Any]],
    on_rows: Callable[[int], None],
) -> int:
    """Insert decoded rows in batches; returns the count. Unknown columns must be gone.

    Plain multi-row INSERTs with parameters: peewee's query builder costs more than the
    database here. Only datetime values need the engine's conversion (the model field's).
    """
    model = models[t.name]
    engine = engine_of(db)
    cols = [t.column(c) for c in columns]
    to_db = [model._meta.fields[c.name].db_value if c.type == "datetime" else None for c in cols]
    head = (
        f"INSERT INTO {ddl.quote(engine, t.name)} "
        f"({', '.join(ddl.quote(engine, c) for c in columns)}) VALUES "
    )
    one = "(" + ", ".join(db.param for _ in columns) + ")"
    batch_size = max(1, 900 // max(1, len(columns)))  # stay under SQLite's variable limit
    count = 0
    batch: list[Any] = []
    n = 0

    def flush() -> None:
        nonlocal batch, n
        if n:
            db.execute_sql(head + ", ".join([one] * n), batch)
            on_rows(n)
            batch, n = [], 0

    with db.atomic():
        for raw in rows:
            for col, conv, value in zip(cols, to_db, raw, strict=True):
                value = decode_value(col, value)
                batch.append(conv(value) if conv is not None and value is not None else value)
            n += 1
            count += 1
            if n >= batch_size:
                flush()
        flush()
    fix_sequence(db, t)
    return count


def fix_sequence(db: peewee.Database, t: schema.Table) -> None:
    """After inserting explicit ids, move PostgreSQL's SERIAL sequence past them."""
    if engine_of(db) != "postgres" or not t.primary_key:
        return
    pk = t.primary_key[0]
    db.execute_sql(
        f"SELECT setval(pg_get_serial_sequence('{t.name}', '{pk}'), "
        f'COALESCE(MAX("{pk}"), 1), MAX("{pk}") IS NOT NULL) FROM "{t.name}"'
    )


def open_backup_file(path: Path, mode: str, gz: bool | None = None) -> IO[str]:
    if path.suffix == ".gz" if gz is None else gz:
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="utf-8")  # type: ignore[arg-type]
    return path.open(mode, encoding="utf-8")


def read_backup_header(file: str | Path) -> dict[str, Any]:
    """The header of a backup file (validated)."""
    path = Path(file)
    if not path.is_file():
        raise NotFound(f"no backup file {path}")
    try:
        with open_backup_file(path, "r") as fh:
            return parse_header(fh.readline(), path)
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # gzip.BadGzipFile is an OSError
        raise BadInput(f"cannot read {path}: {exc}") from exc


def parse_header(line: str, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not a kamtool backup (bad header)") from exc
    if not isinstance(header, dict) or header.get("format") != BACKUP_FORMAT:
        raise BadInput(f"{path} is not a kamtool backup")
    if header.get("format_version") != BACKUP_FORMAT_VERSION:
        raise BadInput(f"{path}: unsupported backup format version {header.get('format_version')}")
    return header


def _parsed_lines(fh: IO[str], path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of every non-empty line after the header."""
    lineno = 1
    try:
        for lineno, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{path}:{lineno}: not JSON (truncated file?)") from exc
            yield lineno, value
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # a damaged or truncated .gz
        raise BadInput(f"{path}: unreadable after line {lineno}: {exc}") from exc


def read_sections(fh: IO[str], path: Path) -> Iterator[tuple[str, list[str], Iterator[list[Any]]]]:
    """(table, columns, rows) for each table section of an open backup file.

    A section runs until the next section line (an object) or the end of the file, so
    rows added while the backup was written cannot desynchronise it.
    """
    lines = _parsed_lines(fh, path)
    pending = next(lines, None)
    while pending is not None:
        lineno, sec = pending
        try:
            table, columns = str(sec["table"]), [str(c) for c in sec["columns"]]
        except (KeyError, TypeError) as exc:
            raise BadInput(f"{path}:{lineno}: expected a table section") from exc
        pending = None

        def rows(columns: list[str] = columns) -> Iterator[list[Any]]:
            nonlocal pending
            for lineno, value in lines:
                if isinstance(value, dict):
                    pending = (lineno, value)
                    return
                if not isinstance(value, list) or len(value) != len(columns):
                    raise BadInput(f"{path}:{lineno}: row does not match the columns")
                yield value

        section_rows = rows()
        yield table, columns, section_rows
        for _ in section_rows:  # the caller skipped (part of) the section
            pass
