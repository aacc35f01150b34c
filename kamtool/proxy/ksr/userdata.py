"""``KSR.speeddial.sd_lookup`` and ``KSR.avpops.avp_db_load``: per-user rows read from the
database on every call (Kamailio's speeddial and avpops keep no copy, so there is nothing
to reload), on the proxy's database worker (:func:`wait_db`).

Both match the owner by user name only, as the modules do with their default
``use_domain`` 0. Return codes are Kamailio's: 1 when a row was found, -1 when not (or
the database failed).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from kamtool.db import schema
from kamtool.db.models import make_model
from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import current, db_error, wait_db

__all__ = ["avpops_functions", "speeddial_functions"]

_USER = re.compile(r"^(?:sips?:)?([^@;:?]+)@([^;:?>]+)", re.IGNORECASE)


def _user_of(uri: str) -> tuple[str, str] | None:
    m = _USER.match(uri.strip().strip("<>"))
    return (m.group(1), m.group(2)) if m else None


def _query(database: Any, table: str, where: dict[str, Any], columns: tuple[str, ...]) -> list:
    m = make_model(schema.tables()[table], database)
    cond = None
    for column, value in where.items():
        term = getattr(m, column) == value
        cond = term if cond is None else cond & term
    try:
        return [
            tuple(getattr(r, c) for c in columns) for r in m.select().where(cond).order_by(m.id)
        ]
    except Exception:
        from kamtool.proxy.tables import rollback

        rollback(database)
        raise


def sd_lookup(table: str = "speed_dial", owner: str = "") -> int:
    """The R-URI user is a short number of the owner (``owner`` or the From URI): the
    R-URI becomes the row's ``new_uri``."""
    ctx = current()
    who = _user_of(str(owner or pv.get("$fu") or ""))
    short = getattr(ctx.msg.uri, "user", None)
    if who is None or not short:
        return -1
    job = partial(_query, ctx.parts.database, str(table),
                  {"username": who[0], "sd_username": short}, ("new_uri",))  # fmt: skip
    try:
        rows = wait_db(job)
    except Exception as exc:
        return db_error(ctx, "sd_lookup", exc)
    if not rows or not rows[0][0]:
        return -1
    return 1 if pv.sets("$ru", rows[0][0]) else -1


def _source(source: str) -> dict[str, str] | None:
    """The rows a source names: a URI's user, or a uuid (any other value)."""
    value = str(pv.get(source) or "") if source.startswith("$") else source
    if not value:
        return None
    user = _user_of(value)
    return {"username": user[0]} if user else {"uuid": value}


def avp_db_load(source: str, name: str, table: str = "usr_preferences") -> int:
    """The ``usr_preferences`` rows of ``source`` (``"$fu"``, ``"$ru"`` ... or a uuid)
    whose attribute is ``name``'s (``"$avp(s:callfwd)"`` reads attribute ``callfwd``)
    into that AVP (an integer when the row's type says so); the last row is its value."""
    ctx = current()
    m = re.fullmatch(r"\$avp\((?:([si]):)?([^)]+)\)", str(name).strip())
    where = _source(str(source))
    if m is None or where is None:
        return -1
    where["attribute"] = m.group(2)
    job = partial(_query, ctx.parts.database, str(table), where, ("type", "value"))
    try:
        rows = wait_db(job)
    except Exception as exc:
        return db_error(ctx, "avp_db_load", exc)
    if not rows:
        return -1
    for kind, value in rows:
        if int(kind or 0) & 1:  # avpops' type bit 1: the value is an integer
            try:
                pv.seti(str(name), int(value))
                continue
            except ValueError:
                pass
        pv.sets(str(name), value or "")
    return 1


def speeddial_functions() -> dict[str, Any]:
    """The ``KSR.speeddial`` table."""
    return {"sd_lookup": sd_lookup, "sd_lookup_owner": sd_lookup}


def avpops_functions() -> dict[str, Any]:
    """The ``KSR.avpops`` table (avp_db_load only)."""
    return {"avp_db_load": avp_db_load}
