"""The ``dbaliases`` table read by alias_db_lookup(): ALIAS@DOMAIN -> USER@DOMAIN.

Same columns and values as ``kamctl alias_db add ALIAS USER``. kamctl refuses an alias
user name that exists in any domain; we refuse the same alias (user and domain) twice,
which is what alias_db's lookup (by user and domain) cannot tell apart.
"""

from __future__ import annotations

from typing import Any

from kamtool.core.users import User
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, NotFound


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "alias": f"{r.alias_username}@{r.alias_domain}",
        "user": f"{r.username}@{r.domain}",
        "alias_username": r.alias_username,
        "alias_domain": r.alias_domain,
        "username": r.username,
        "domain": r.domain,
    }


def add(db: peewee.Database, alias: User, user: User, *, force: bool = False) -> Change:
    """Make ``alias`` resolve to ``user``, who must be a subscriber unless ``force``
    (an alias of nobody turns every call to it into a 404; kamctl does not check)."""
    from kamtool.core import subscribers

    A = models.Dbaliases
    with reading("dbaliases"):
        current = (
            A.select()
            .where((A.alias_username == alias.username) & (A.alias_domain == alias.domain))
            .first()
        )
    if current is not None:
        raise AlreadyExists(
            f"alias '{alias}' already points to '{current.username}@{current.domain}'"
        )
    if not force and not subscribers.exists(user):
        raise NotFound(
            f"no subscriber '{user}' for alias '{alias}' to stand for",
            hint=f"add the user first (kamtool add {user} PASSWORD), or --force to alias "
            "a user that is not a subscriber here",
        )
    values = {
        "username": user.username,
        "domain": user.domain,
        "alias_username": alias.username,
        "alias_domain": alias.domain,
    }
    with transaction(db, f"alias '{alias}'"):
        new_id = A.insert(**values).execute()
    row = {"id": new_id, "alias": alias.aor, "user": user.aor, **values}
    return Change("alias", "added", [row], 1, f"alias '{alias}' -> '{user}' added")


def remove(db: peewee.Database, alias: User) -> Change:
    """Delete ``alias``."""
    A = models.Dbaliases
    where = (A.alias_username == alias.username) & (A.alias_domain == alias.domain)
    with transaction(db, f"alias '{alias}'"):
        rows = [_row(r) for r in A.select().where(where)]
        if rows:
            A.delete().where(where).execute()
    if not rows:
        raise NotFound(f"non-existent alias '{alias}'")
    return Change("alias", "removed", rows, len(rows), f"alias '{alias}' removed")


def show(db: peewee.Database, user: User | None = None) -> list[dict[str, Any]]:
    """All aliases, or those of ``user``: the aliases standing for it, and the alias it is
    (kamctl's ``alias_db show ALIAS`` asks what an alias points to), ordered by alias."""
    A = models.Dbaliases
    query = A.select().order_by(A.alias_domain, A.alias_username)
    if user is not None:
        query = query.where(
            ((A.username == user.username) & (A.domain == user.domain))
            | ((A.alias_username == user.username) & (A.alias_domain == user.domain))
        )
    with reading("dbaliases"):
        return [_row(r) for r in query]
