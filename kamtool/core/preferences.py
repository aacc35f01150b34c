"""The avpops module's ``usr_preferences`` table (kamctl avp, kamctl rpid).

A preference belongs to a user (``user@domain``: username and domain columns) or to a
uuid (any other id: the uuid column, user and domain left '' as kamctl writes them).
``type`` is avpops' bit mask: 1 = the value is an integer, 2 = the attribute name is an
integer. ``avp_db_load`` reads the table on every call: no reload.

``rpid``: kamctl 5.6 writes a ``subscriber.rpid`` column that Kamailio 5.6's schema no
longer has (``kamctl rpid add`` fails on a database made by kamdbctl 5.6); kamtool keeps
the Remote-Party-ID as the ``rpid`` preference, which a cfg loads with
``avp_db_load("$fu", "$avp(s:rpid)")``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kamtool.core import validate
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

COLUMNS = ("id", "uuid", "username", "domain", "attribute", "type", "value", "last_modified")
RPID = "rpid"


def owner(spec: str, default_domain: str | None) -> dict[str, str]:
    """``{"uuid", "username", "domain"}`` of ``user@domain`` (or ``sip:``), else a uuid."""
    raw = spec.strip()
    if raw.lower().startswith(("sip:", "sips:")) or "@" in raw:
        from kamtool.core.users import parse_user

        user = parse_user(raw, default_domain)
        return {"uuid": "", "username": user.username, "domain": user.domain}
    return {"uuid": validate.text(raw, "uuid", max_len=64, allow_empty=False), "username": "",
            "domain": ""}  # fmt: skip


def _row(r: Any) -> dict[str, Any]:
    return {c: getattr(r, c) for c in COLUMNS}


def _filter(who: dict[str, str] | None, attribute: str | None, value: str | None,
            kind: int | None) -> Any:  # fmt: skip
    P = models.UsrPreferences
    where = P.id.is_null(False)
    if who is not None:
        where &= (
            (P.uuid == who["uuid"]) & (P.username == who["username"]) & (P.domain == who["domain"])
        )
    if attribute is not None:
        where &= P.attribute == attribute
    if value is not None:
        where &= P.value == value
    if kind is not None:
        where &= P.type == kind
    return where


def avp_type(value: str | int) -> int:
    return validate.integer(value, "type", minimum=0, maximum=3)


def add(
    db: peewee.Database, who: dict[str, str], attribute: str, kind: str | int, value: str
) -> Change:
    """Insert a preference (kamctl avp add ID ATTRIBUTE TYPE VALUE)."""
    t = avp_type(kind)
    name = validate.text(attribute, "attribute", max_len=32, allow_empty=False)
    if t & 2:
        validate.integer(name, "attribute (type 2/3: an integer name)")
    text = validate.text(value, "value", max_len=128)
    if t & 1:
        validate.integer(text, "value (type 1/3: an integer value)")
    values = {**who, "attribute": name, "type": t, "value": text,
              "last_modified": datetime.now().replace(microsecond=0)}  # fmt: skip
    P = models.UsrPreferences
    with reading("usr_preferences"):
        if P.select(P.id).where(_filter(who, name, text, t)).exists():
            raise AlreadyExists(f"preference {name}={text} exists already")
    with transaction(db, "usr_preferences"):
        new_id = P.insert(**values).execute()
    label = who["uuid"] or f"{who['username']}@{who['domain']}"
    return Change(
        "avp", "added", [{"id": new_id, **values}], 1, f"preference {name} added for {label}"
    )


def remove(
    db: peewee.Database,
    who: dict[str, str] | None = None,
    attribute: str | None = None,
    value: str | None = None,
    kind: str | int | None = None,
) -> Change:
    """Delete the preferences matching every filter given (at least one)."""
    if who is None and attribute is None and value is None and kind is None:
        raise BadInput("give at least one of --user, --attr, --value, --type")
    t = avp_type(kind) if kind is not None else None
    P = models.UsrPreferences
    where = _filter(who, attribute, value, t)
    with transaction(db, "usr_preferences"):
        rows = [_row(r) for r in P.select().where(where).order_by(P.id)]
        if rows:
            P.delete().where(where).execute()
    if not rows:
        raise NotFound("no preference matches")
    return Change("avp", "removed", rows, len(rows), f"{len(rows)} preference(s) removed")


def show(
    db: peewee.Database,
    who: dict[str, str] | None = None,
    attribute: str | None = None,
    value: str | None = None,
    kind: str | int | None = None,
) -> list[dict[str, Any]]:
    t = avp_type(kind) if kind is not None else None
    P = models.UsrPreferences
    query = P.select().where(_filter(who, attribute, value, t))
    with reading("usr_preferences"):
        return [_row(r) for r in query.order_by(P.domain, P.username, P.uuid, P.attribute, P.id)]


def rpid_set(db: peewee.Database, who: dict[str, str], rpid: str) -> Change:
    """Set the user's Remote-Party-ID (replacing any previous one)."""
    text = validate.text(rpid.strip(), "RPID", max_len=128, allow_empty=False)
    P = models.UsrPreferences
    with transaction(db, "usr_preferences"):  # the add below runs inside it (a savepoint)
        P.delete().where(_filter(who, RPID, None, None)).execute()
        return add(db, who, RPID, 0, text)


def rpid_remove(db: peewee.Database, who: dict[str, str]) -> Change:
    return remove(db, who, RPID)
