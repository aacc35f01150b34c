"""Server-level administration for MySQL/MariaDB and PostgreSQL: the database itself
and its users, as ``kamdbctl create``/``drop`` handle them (SQLite has neither)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kamtool.db.connect import DbUrl, open_database, parse_url
from kamtool.errors import BadInput, DatabaseUnavailable

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
#: kamdbctl's default users: (name, password)
DEFAULT_RW = ("kamailio", "kamailiorw")
DEFAULT_RO = ("kamailioro", "kamailioro")


def check_name(kind: str, name: str) -> str:
    if not _NAME_RE.match(name):
        raise BadInput(f"invalid {kind} name {name!r}")
    return name


#: the database an admin URL without one connects to (kamdbctl's ``template1`` works too)
_MAINTENANCE_DB = {"mysql": "mysql", "postgres": "postgres"}


def parse_admin_url(url: str) -> DbUrl:
    """An admin (server) URL; it may name no database (``mysql://root@host/``, the form
    kamctlrc's DBROOTUSER gives): then the engine's maintenance database."""
    parts = urlsplit(url.strip())
    if "://" in url and not parts.path.strip("/"):
        scheme = parts.scheme.lower()
        engine = "postgres" if scheme.startswith("postgres") else "mysql"
        url = urlunsplit(parts._replace(path="/" + _MAINTENANCE_DB[engine]))
    return parse_url(url)


def same_server(a: DbUrl, b: DbUrl) -> bool:
    """True when both URLs reach the same server (engine, host and port)."""
    return (a.engine, a.host, a.port) == (b.engine, b.host, b.port)


def in_database(admin: DbUrl, name: str) -> str:
    """``admin``'s URL (its user and password) for the database ``name``."""
    parts = urlsplit(admin.url)
    return urlunsplit(parts._replace(path="/" + check_name("database", name)))


def server_connection(u: DbUrl, admin: DbUrl | None) -> Any:
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
    name = check_name("database", u.database or "")
    try:  # it may exist already, for a user who cannot reach the server's admin database
        open_database(u.url).close()
        return False
    except DatabaseUnavailable:
        pass
    conn = server_connection(u, admin)
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
    """Drop the whole MySQL/PostgreSQL database of ``u`` (as ``kamdbctl drop``); False
    when there is no such database (a misspelt name must not look like a drop)."""
    name = check_name("database", u.database or "")
    conn = server_connection(u, admin)
    try:
        with conn.cursor() as cur:
            if u.engine == "mysql":
                cur.execute(
                    "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)
                )
                if not cur.fetchone():
                    return False
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                return True
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if not cur.fetchone():
                return False
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            return True
    except Exception as exc:
        raise DatabaseUnavailable(
            f"cannot drop database {name}: {exc}",
            hint="--admin-url with a user allowed to drop databases, or --keep-database "
            "to drop only the tables",
        ) from exc
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
    name = check_name("database", u.database or "")
    for user in (rw[0], ro[0]):
        check_name("user", user)
    made: list[dict[str, str]] = []
    conn = server_connection(u, admin)
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
            conn2 = server_connection(u, admin_in_db)
            try:
                with conn2.cursor() as cur:
                    cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{rw[0]}", "{ro[0]}"')
                    cur.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{rw[0]}"')
                    cur.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{rw[0]}"')
                    cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{ro[0]}"')
                    # tables created later (dbctl create --group extra) get the same grants
                    default = "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT"
                    cur.execute(f'{default} ALL ON TABLES TO "{rw[0]}"')
                    cur.execute(f'{default} ALL ON SEQUENCES TO "{rw[0]}"')
                    cur.execute(f'{default} SELECT ON TABLES TO "{ro[0]}"')
            finally:
                conn2.close()
        return made
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot create users: {exc}") from exc
    finally:
        conn.close()
