"""Extra columns of the ``subscriber`` table (kamcli subscriber setattrs/setattri/setattrnull).

Deployments add columns to ``subscriber`` (an e-mail address, an RPID, a PIN ...) that
auth_db can load as AVPs (``load_credentials``). The column must exist in the table; the
ones kamtool manages itself (id, username, domain, password, ha1, ha1b) are refused:
``kamtool passwd`` keeps password and hashes consistent.
"""

from __future__ import annotations

from typing import Any

from kamtool.core import validate
from kamtool.core.users import User
from kamtool.core.writes import Change, reading, transaction
from kamtool.db.orm import peewee
from kamtool.errors import BadInput, NotFound

PROTECTED = ("id", "username", "domain", "password", "ha1", "ha1b")


def _column(db: peewee.Database, name: str) -> str:
    with reading("subscriber"):
        columns = {c.name.lower(): c.name for c in db.get_columns("subscriber")}
    key = name.strip().lower()
    if key in PROTECTED:
        raise BadInput(
            f"column {name!r} is kamtool's to manage", hint="use kamtool passwd / add / rm"
        )
    if key not in columns:
        extra = sorted(set(columns) - set(PROTECTED))
        raise BadInput(
            f"the subscriber table has no column {name!r}",
            hint=f"its other columns: {', '.join(extra)}" if extra else "it has no extra columns",
        )
    return columns[key]


def set_attr(db: peewee.Database, user: User, column: str, value: Any) -> Change:
    """Set ``column`` of the user's row to ``value`` (a str, an int or None)."""
    name = _column(db, column)
    table = peewee.Table("subscriber", ("id", "username", "domain", name)).bind(db)
    where = (table.username == user.username) & (table.domain == user.domain)
    with transaction(db, "subscriber"):
        count = table.update({getattr(table, name): value}).where(where).execute()
    if not count:
        raise NotFound(f"no subscriber {user}")
    return Change(
        "subscriber", "updated", [{"username": user.username, "domain": user.domain, name: value}],
        1, f"{name} of {user} set",
    )  # fmt: skip


def set_text(db: peewee.Database, user: User, column: str, value: str) -> Change:
    return set_attr(db, user, column, validate.text(value, column, max_len=255))


def set_int(db: peewee.Database, user: User, column: str, value: str) -> Change:
    return set_attr(db, user, column, validate.integer(value, column))


def set_null(db: peewee.Database, user: User, column: str) -> Change:
    return set_attr(db, user, column, None)


def get_attrs(db: peewee.Database, user: User) -> dict[str, Any]:
    """The user's row without password and hashes."""
    with reading("subscriber"):
        names = [c.name for c in db.get_columns("subscriber")]
        keep = [n for n in names if n.lower() not in ("password", "ha1", "ha1b")]
        table = peewee.Table("subscriber", tuple(names)).bind(db)
        row = (
            table.select(*[getattr(table, n) for n in keep])
            .where((table.username == user.username) & (table.domain == user.domain))
            .dicts()
            .first()
        )
    if row is None:
        raise NotFound(f"no subscriber {user}")
    return dict(row)
