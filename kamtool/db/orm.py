"""peewee, imported without the MySQL and PostgreSQL drivers until a server database needs one.

At import peewee tries every driver it knows: PyMySQL (which pulls in ``cryptography``) and
psycopg2 (libpq) cost ~25 ms, a third of what ``kamtool add`` on SQLite (which uses
neither) cost above an empty interpreter. kamtool's modules therefore take peewee from here::

    from kamtool.db.orm import peewee

(``tests/db/test_orm.py`` checks that no other module imports peewee itself), so this is
the first import: the driver modules are hidden while peewee loads, and
:func:`load_driver` imports the one a ``mysql://`` or ``postgres://`` URL needs and hands
it to peewee, as its own import would have, when :func:`kamtool.db.connect.make_database`
makes such a database. If peewee was imported before kamtool (by a program embedding
kamtool, or a test), it found its drivers itself and :func:`load_driver` has nothing to do.

The binding sets the names peewee's import sets: ``mysql`` for MySQLDatabase; ``psycopg2``,
``pg_extensions``, ``Json_pg2`` (``pg_errors`` in peewee 3) and, in peewee 4, the
transaction-status constants of ``Psycopg2Adapter`` for PostgresqlDatabase.
``tests/db/test_orm.py`` runs both against real MariaDB and PostgreSQL servers with the
installed peewee (4.5).
"""

from __future__ import annotations

import sys
from types import ModuleType

from kamtool.errors import DatabaseUnavailable

# PyMySQL and psycopg2 are kamtool's drivers. MySQLdb (mysqlclient) is peewee's second
# choice for MySQL: hidden too, or peewee would take it in PyMySQL's place. psycopg 3 and
# psycopg2cffi are not kamtool dependencies and stay peewee's business.
_HIDDEN = ("pymysql", "MySQLdb", "psycopg2")


def _import_peewee() -> ModuleType:
    if "peewee" in sys.modules:
        return sys.modules["peewee"]
    # A None entry in sys.modules makes `import name` raise ImportError: peewee's
    # try/except around each driver import then records the driver as absent.
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import peewee
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return peewee


peewee = _import_peewee()

# engine -> (driver module, pip package), for messages
DRIVERS = {"mysql": ("pymysql", "PyMySQL"), "postgres": ("psycopg2", "psycopg2-binary")}


def load_driver(engine: str) -> None:
    """Make sure peewee has the driver for ``engine`` (``mysql`` or ``postgres``).

    Raises :class:`DatabaseUnavailable` naming the package when the driver is not installed.
    ``sqlite`` needs nothing (peewee always has the standard library's sqlite3).
    """
    if engine not in DRIVERS:
        return
    module, package = DRIVERS[engine]
    try:
        if engine == "mysql" and peewee.mysql is None:
            import pymysql

            peewee.mysql = pymysql
        elif engine == "postgres" and peewee.psycopg2 is None:
            _bind_psycopg2()
    except ImportError as exc:
        raise DatabaseUnavailable(
            f"the {engine} database driver {module} is not installed ({exc})",
            hint=f"pip install {package}",
        ) from exc


def _bind_psycopg2() -> None:
    """What peewee's import does when it finds psycopg2, done now."""
    import psycopg2
    from psycopg2 import errors, extensions, extras

    extras.register_uuid()  # peewee registers the UUID adapter at import
    peewee.pg_extensions = extensions
    peewee.pg_errors = errors  # peewee 3.x's name (unused by peewee 4)
    peewee.pg_register_uuid = extras.register_uuid
    peewee.Json_pg2 = extras.Json
    # peewee 4's adapter reads these in its class body, i.e. at peewee's import.
    adapter = getattr(peewee, "Psycopg2Adapter", None)
    if adapter is not None:
        adapter.txn_idle = extensions.TRANSACTION_STATUS_IDLE
        adapter.txn_inerror = extensions.TRANSACTION_STATUS_INERROR
        adapter.txn_unknown = extensions.TRANSACTION_STATUS_UNKNOWN
    peewee.psycopg2 = psycopg2  # last: it is what load_driver checks
