"""Database URLs to peewee databases, model binding and schema checks.

URL forms (the same as Kamailio's ``db_url`` where Kamailio has one):

* ``sqlite:////abs/path.sqlite`` - absolute: after ``sqlite://`` one more ``/`` is
  dropped, as db_sqlite does; ``sqlite:///rel/path`` is therefore *relative*;
* a plain path (``/var/lib/kamailio.sqlite``, ``kamailio.sqlite``);
* ``mysql://user:pw@host:port/db`` (PyMySQL, utf8mb4; ``mariadb://`` is accepted too);
* ``postgres://user:pw@host:port/db`` or ``postgresql://`` (psycopg2).

Creation on first use: :func:`connected` with ``auto_create=True`` (the default)
creates every table of the three kamdbctl groups when an SQLite file is new or
empty, so the default database (``Settings.effective_db_url``) works on the first
``kamtool add``. MySQL/PostgreSQL databases are never created implicitly: use
``kamtool dbctl create``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kamtool.db import schema
from kamtool.db.orm import load_driver, peewee
from kamtool.db.url import DbUrl, parse_url
from kamtool.errors import DatabaseUnavailable, SchemaError

SQLITE_BUSY_TIMEOUT_MS = 5000
CREATE_HINT = "kamtool dbctl create"


def make_database(u: DbUrl) -> peewee.Database:
    """An unconnected peewee database for a parsed URL (its driver loaded, see kamtool.db.orm)."""
    load_driver(u.engine)
    if u.engine == "sqlite":
        # Kamailio's db_sqlite sets neither WAL nor a busy timeout; WAL lets Kamailio's
        # writers and kamtool work side by side, the timeout waits instead of failing.
        return peewee.SqliteDatabase(
            u.path,
            pragmas={"journal_mode": "wal", "busy_timeout": SQLITE_BUSY_TIMEOUT_MS},
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        )
    kw: dict[str, Any] = {"host": u.host}
    if u.port:
        kw["port"] = u.port
    if u.user is not None:
        kw["user"] = u.user
    if u.password is not None:
        kw["password"] = u.password
    if u.engine == "mysql":
        kw.setdefault("user", "root")
        kw["password"] = kw.get("password", "")
        return peewee.MySQLDatabase(
            u.database, charset=u.options.get("charset", "utf8mb4"), connect_timeout=5, **kw
        )
    return peewee.PostgresqlDatabase(u.database, connect_timeout=5, **kw)


def _describe(exc: Exception) -> str:
    """A driver error as one line, without anything secret (drivers do not echo passwords)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _connect_hint(reason: str) -> str | None:
    """What to do about a refused connection, from the driver's words."""
    text = reason.lower()
    if "access denied" in text and "to database" in text:  # MariaDB 1044
        return (
            "the user may not use that database, or it does not exist: kamtool dbctl create "
            "(--users also makes kamdbctl's users with their grants)"
        )
    # MariaDB 1045 "Access denied for user"; PostgreSQL
    # 'password authentication failed', 'role "x" does not exist'
    if "access denied" in text or "authentication failed" in text or "role " in text:
        return (
            "check the user and password (DBRWUSER/DBRWPW in kamctlrc, or the URL); "
            "kamtool dbctl create --users makes kamdbctl's users"
        )
    if "unknown database" in text or "does not exist" in text:
        return CREATE_HINT
    return None


def open_database(url: str, create_dir: bool = True) -> peewee.Database:
    """Open (connect) the database at ``url``.

    For SQLite the parent directory is created when ``create_dir`` is true.
    Raises :class:`DatabaseUnavailable` (the URL redacted) when it cannot connect.
    """
    u = parse_url(url)
    if u.engine == "sqlite" and create_dir and u.path != ":memory:":
        try:
            Path(u.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot create the directory of {u.path}: {exc.strerror}"
            ) from exc
    db = make_database(u)
    try:
        db.connect(reuse_if_open=True)
    except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
        reason = _describe(exc)
        raise DatabaseUnavailable(
            f"cannot connect to {u.redacted}: {reason}", hint=_connect_hint(reason), url=u.redacted
        ) from exc
    db.kamtool_url = u  # type: ignore[attr-defined]  # for messages and dbctl
    return db


def url_of(db: peewee.Database) -> DbUrl:
    """The parsed URL a database was opened with (a bare one for databases that
    :func:`open_database` did not open)."""
    u = getattr(db, "kamtool_url", None)
    if u is None:
        from kamtool.db.fields import engine_of

        name = str(db.database)
        u = DbUrl(engine_of(db), name, path=name if engine_of(db) == "sqlite" else None)
    return u  # type: ignore[no-any-return]


@contextmanager
def map_db_errors(db: peewee.Database | None = None) -> Iterator[None]:
    """Turn driver errors that escape the block into :class:`DatabaseUnavailable`.

    Code that expects a particular error (an IntegrityError for a duplicate) catches it
    inside the block; only what nobody handled arrives here.
    """
    try:
        yield
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        where = f" ({url_of(db).redacted})" if db is not None else ""
        raise DatabaseUnavailable(f"database error{where}: {_describe(exc)}") from exc


# --------------------------------------------------------------------------- introspection


def existing_tables(db: peewee.Database) -> set[str]:
    """Names of the tables present in the database."""
    with map_db_errors(db):
        return set(db.get_tables())


def read_versions(db: peewee.Database) -> dict[str, int]:
    """The ``version`` table as ``table_name -> table_version`` (empty when absent)."""
    if "version" not in existing_tables(db):
        return {}
    with map_db_errors(db):
        cur = db.execute_sql("SELECT table_name, table_version FROM version")
        return {str(name): int(ver) for name, ver in cur.fetchall()}


def check_schema(db: peewee.Database, tables: Iterable[str] | None = None) -> None:
    """Raise :class:`SchemaError` unless ``tables`` (default: the standard group) exist
    with the versions Kamailio 5.6 expects (per the ``version`` table)."""
    wanted = list(tables) if tables is not None else list(schema.expected_versions(["standard"]))
    have = existing_tables(db)
    missing = [t for t in wanted if t not in have]
    if missing:
        raise SchemaError(
            f"missing table(s) {', '.join(missing)} in {url_of(db).redacted}",
            hint=CREATE_HINT,
            missing=missing,
        )
    versions = read_versions(db)
    wrong = {
        t: {"found": versions.get(t), "expected": schema.table(t).version}
        for t in wanted
        if t in schema.tables() and versions.get(t) != schema.table(t).version
    }
    if wrong:
        listed = ", ".join(
            f"{t} (found {v['found']}, expected {v['expected']})" for t, v in wrong.items()
        )
        raise SchemaError(
            f"table version mismatch: {listed}",
            hint="kamtool dbctl migrate",
            mismatches=wrong,
        )


# --------------------------------------------------------------------------- binding


def _sqlite_is_new(u: DbUrl) -> bool:
    if u.engine != "sqlite" or u.path == ":memory:":
        return u.path == ":memory:"
    p = Path(u.path).expanduser()
    return not p.exists() or p.stat().st_size == 0


def bind_models(db: peewee.Database | None) -> peewee.Database | None:
    """Point the shared models (``kamtool.db.models``) at ``db``; returns the previous one."""
    from kamtool.db.models import database_proxy

    previous = database_proxy.obj
    database_proxy.initialize(db)
    return previous


@contextmanager
def connected(
    url: str,
    *,
    auto_create: bool = True,
    require: Iterable[str] | None = None,
    create_dir: bool = True,
) -> Iterator[peewee.Database]:
    """Open ``url``, bind every model of ``kamtool.db.models`` to it, close on exit.

    ``auto_create``: a new/empty SQLite file gets all tables of the three groups
    (Kamailio-exact DDL and ``version`` rows). ``require``: table names checked with
    :func:`check_schema` before the block runs. Driver errors inside the block become
    :class:`DatabaseUnavailable`.
    """
    u = parse_url(url)
    fresh = auto_create and _sqlite_is_new(u)
    db = open_database(url, create_dir=create_dir)
    previous = bind_models(db)
    try:
        if fresh and not existing_tables(db):
            from kamtool.db.ddl import create_tables

            create_tables(db, schema.GROUP_NAMES)
        if require is not None:
            check_schema(db, require)
        with map_db_errors(db):
            yield db
    finally:
        bind_models(previous)
        if not db.is_closed():
            db.close()
