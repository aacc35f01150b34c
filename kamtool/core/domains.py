"""The ``domain`` table: the SIP domains this proxy is responsible for (domain module).

``last_modified``: kamctl writes ``NOW()`` on MySQL and, on SQLite, the *text* printed
by ``date`` ('Thu Nov 26 11:36:53 UTC 2026'). The domain module never reads the
column, but a text date is not something any reader of a TIMESTAMP column can use,
and db_sqlite reads datetimes correctly only as REAL Julian days. So we store the
current time through the model's datetime field, which writes what Kamailio itself
writes on each engine (a REAL Julian day on SQLite, local DATETIME on MySQL).
``did`` stays NULL unless given (the module then uses the domain as its did).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kamtool.core import validate
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, NotFound


def _row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "domain": r.domain, "did": r.did, "last_modified": r.last_modified}


def add(db: peewee.Database, domain: str, did: str | None = None) -> Change:
    """Insert ``domain``; AlreadyExists when it is there (kamctl says so and exits 0)."""
    name = validate.domain_name(domain, new=True)
    values: dict[str, Any] = {
        "domain": name,
        "did": validate.text(did, "did", max_len=64) if did else None,
        "last_modified": dt.datetime.now().replace(microsecond=0),
    }
    D = models.Domain
    with reading("domain"):
        # Kamailio's domain module matches domains case-insensitively (so do MySQL's
        # default collations; SQLite and PostgreSQL compare bytes): A.Example is a.example
        same = D.select(D.domain).where(peewee.fn.LOWER(D.domain) == name.lower()).first()
        if same is not None:
            raise AlreadyExists(f"domain {same.domain} is already in the domain table")
    with transaction(db, f"domain {name}"):
        new_id = D.insert(**values).execute()
    return Change("domain", "added", [{"id": new_id, **values}], 1, f"domain {name} added")


def remove(db: peewee.Database, domain: str) -> Change:
    """Delete ``domain``."""
    name = validate.domain_name(domain)
    D = models.Domain
    same = peewee.fn.LOWER(D.domain) == name.lower()  # as add() compares
    with transaction(db, f"domain {name}"):
        rows = [_row(r) for r in D.select().where(same)]
        if rows:
            D.delete().where(same).execute()
    if not rows:
        raise NotFound(f"domain {name} is not in the domain table")
    gone = ", ".join(r["domain"] for r in rows)
    return Change("domain", "removed", rows, len(rows), f"domain {gone} removed")


def show(db: peewee.Database) -> list[dict[str, Any]]:
    """Every domain row, by name."""
    D = models.Domain
    with reading("domain"):
        return [_row(r) for r in D.select().order_by(D.domain)]


def sole_domain(db: peewee.Database) -> str | None:
    """The domain when the ``domain`` table holds exactly one, else ``None``.

    Used as the default domain for user names when none is configured: a single-domain
    server (``kamtool serve`` records the domain it serves) needs no SIP_DOMAIN.
    """
    D = models.Domain
    with reading("domain"):
        names = [r.domain for r in D.select(D.domain).limit(2)]
    return names[0] if len(names) == 1 else None
