"""The speeddial module's ``speed_dial`` table (kamctl speeddial): short numbers per user.

A row maps the owner's (``username``, ``domain``) short number (``sd_username`` at
``sd_domain``) to ``new_uri``; ``sd_lookup`` rewrites the request URI with it. The table
is read on every lookup: no reload.
"""

from __future__ import annotations

from typing import Any

from kamtool.core import validate
from kamtool.core.users import User
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

COLUMNS = ("id", "username", "domain", "sd_username", "sd_domain", "new_uri", "description")


def _row(r: Any) -> dict[str, Any]:
    return {c: getattr(r, c) for c in COLUMNS}


def _where(owner: User, short: User) -> Any:
    S = models.SpeedDial
    return (
        (S.username == owner.username)
        & (S.domain == owner.domain)
        & (S.sd_username == short.username)
        & (S.sd_domain == short.domain)
    )


def add(
    db: peewee.Database, owner: User, short: User, new_uri: str, description: str = ""
) -> Change:
    """Insert a speed dial (kamctl speeddial add OWNER SHORT URI [DESCRIPTION])."""
    uri = validate.sip_uri(new_uri, "new URI", max_len=255)
    if "@" not in uri:
        raise BadInput(f"new URI {new_uri!r} has no user part (write sip:user@host)")
    values = {
        "username": owner.username, "domain": owner.domain, "sd_username": short.username,
        "sd_domain": short.domain, "new_uri": uri,
        "description": validate.text(description or "", "description", max_len=64),
    }  # fmt: skip
    S = models.SpeedDial
    with reading("speed_dial"):
        if S.select(S.id).where(_where(owner, short)).exists():
            raise AlreadyExists(f"{owner} has speed dial {short.username} already")
    with transaction(db, "speed_dial"):
        new_id = S.insert(**values).execute()
    return Change(
        "speeddial", "added", [{"id": new_id, **values}], 1,
        f"speed dial {short.username} of {owner} -> {uri}",
    )  # fmt: skip


def remove(db: peewee.Database, owner: User, short: User) -> Change:
    S = models.SpeedDial
    with transaction(db, "speed_dial"):
        rows = [_row(r) for r in S.select().where(_where(owner, short))]
        if rows:
            S.delete().where(_where(owner, short)).execute()
    if not rows:
        raise NotFound(f"{owner} has no speed dial {short.username}")
    return Change(
        "speeddial", "removed", rows, len(rows), f"speed dial {short.username} of {owner} removed"
    )


def show(db: peewee.Database, owner: User | None = None) -> list[dict[str, Any]]:
    """Every speed dial, or the owner's, by owner and short number."""
    S = models.SpeedDial
    query = S.select().order_by(S.domain, S.username, S.sd_username, S.id)
    if owner is not None:
        query = query.where((S.username == owner.username) & (S.domain == owner.domain))
    with reading("speed_dial"):
        return [_row(r) for r in query]
