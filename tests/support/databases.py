"""Throwaway databases on every engine: SQLite files, MariaDB and PostgreSQL databases.

MariaDB (root, no password, 127.0.0.1:3306) and PostgreSQL (127.0.0.1:5432, trust)
run on the development and CI machines. Each test database gets a unique name and
is dropped afterwards. Outside CI an unreachable server skips the test with the
reason; in CI (``CI=true``) it fails, so a missing server can never pass silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.require import unavailable

MYSQL_ADMIN = dict(host="127.0.0.1", port=3306, user="root", password="")
PG_ADMIN = dict(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")


def _unavailable(what: str, exc: Exception) -> None:
    unavailable(f"{what} not reachable: {exc}")


@contextmanager
def mysql_database() -> Iterator[str]:
    """Create a MariaDB database; yield its URL; drop it."""
    import pymysql

    name = "kt_" + uuid.uuid4().hex[:12]
    try:
        conn = pymysql.connect(**MYSQL_ADMIN, autocommit=True)
    except Exception as exc:
        _unavailable("MariaDB on 127.0.0.1:3306", exc)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a PostgreSQL database; yield its URL; drop it."""
    import psycopg2

    name = "kt_" + uuid.uuid4().hex[:12]
    try:
        conn = psycopg2.connect(**PG_ADMIN)
    except Exception as exc:
        _unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


ENGINES = ["sqlite", "mysql", "postgres"]


@contextmanager
def database(engine: str, tmp_path) -> Iterator[str]:
    """A fresh, empty database of ``engine``; yields its URL."""
    if engine == "sqlite":
        yield "sqlite:///" + str(tmp_path / "kamailio.sqlite")
    elif engine == "mysql":
        with mysql_database() as url:
            yield url
    elif engine == "postgres":
        with postgres_database() as url:
            yield url
    else:
        raise ValueError(engine)
