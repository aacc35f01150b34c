"""ACL groups of users: the ``grp`` table that the group module's is_user_in() reads.

``grant USER GROUP...`` inserts one row per group (kamctl acl grant), ``revoke USER
[GROUP]`` deletes one or all of the user's groups. The group module has no list of
names, but kamctl (VERIFY_ACL=1, its default) takes only the names of its ACL_GROUPS and
(VERIFY_USER=1) only existing subscribers: ``grant`` applies both rules when asked
(``allowed``, ``user_must_exist``). kamctl warns "Invalid privilege" and skips a bad name
while inserting the others; kamtool refuses the whole command, so nothing half-done is
left to clean up. ``last_modified`` is written as in :mod:`kamtool.core.domains`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from kamtool.core import validate
from kamtool.core.users import User
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "username": r.username,
        "domain": r.domain,
        "grp": r.grp,
        "last_modified": r.last_modified,
    }


def group_name(value: str) -> str:
    name = validate.text(value.strip(), "group", max_len=64, allow_empty=False)
    if any(c.isspace() for c in name):
        raise BadInput(f"group {value!r} contains white space")
    return name


def grant(
    db: peewee.Database,
    user: User,
    groups: list[str],
    *,
    allowed: Sequence[str] | None = None,
    user_must_exist: bool = False,
) -> Change:
    """Put ``user`` in each of ``groups``; AlreadyExists (nothing written) if in any already.

    ``allowed`` (kamctl's ACL_GROUPS when VERIFY_ACL=1): other names are BadInput.
    ``user_must_exist`` (VERIFY_USER=1): a user with no subscriber row is NotFound.
    """
    names = list(dict.fromkeys(group_name(g) for g in groups))
    if not names:
        raise BadInput("name at least one group")
    if allowed is not None:
        invalid = [g for g in names if g not in allowed]
        if invalid:
            raise BadInput(
                f"invalid privilege: {', '.join(invalid)} (not in ACL_GROUPS)",
                hint="ACL privileges are: "
                + " ".join(allowed)
                + " (kamctlrc ACL_GROUPS, or VERIFY_ACL=0; [acl] in kamtool.toml)",
            )
    if user_must_exist:
        S = models.Subscriber
        with reading("subscriber"):
            exists = (
                S.select().where((S.username == user.username) & (S.domain == user.domain)).exists()
            )
        if not exists:
            raise NotFound(
                f"non-existent user '{user}'",
                hint="add the user first, or grant anyway with --force "
                "(kamctlrc VERIFY_USER=0 turns the check off)",
            )
    G = models.Grp
    who = (G.username == user.username) & (G.domain == user.domain)
    with reading("grp"):
        present = [r.grp for r in G.select(G.grp).where(who & G.grp.in_(names))]
    if present:
        raise AlreadyExists(f"user '{user}' is already in group(s) {', '.join(present)}")
    now = dt.datetime.now().replace(microsecond=0)
    rows = [
        {"username": user.username, "domain": user.domain, "grp": g, "last_modified": now}
        for g in names
    ]
    with transaction(db, f"groups of '{user}'"):
        for row in rows:
            row["id"] = G.insert(**row).execute()
    return Change("acl", "added", rows, len(rows), f"'{user}' granted {', '.join(names)}")


def revoke(db: peewee.Database, user: User, group: str | None = None) -> Change:
    """Remove ``user`` from ``group``, or from every group when ``group`` is None."""
    G = models.Grp
    where = (G.username == user.username) & (G.domain == user.domain)
    if group is not None:
        where &= G.grp == group_name(group)
    with transaction(db, f"groups of '{user}'"):
        rows = [_row(r) for r in G.select().where(where)]
        if rows:
            G.delete().where(where).execute()
    if not rows:
        what = f"group {group}" if group else "any group"
        raise NotFound(f"user '{user}' is not in {what}")
    return Change(
        "acl", "removed", rows, len(rows), f"'{user}' revoked {', '.join(r['grp'] for r in rows)}"
    )


def show(db: peewee.Database, user: User | None = None) -> list[dict[str, Any]]:
    """Group memberships, of one user or all, ordered by user then group."""
    G = models.Grp
    query = G.select().order_by(G.domain, G.username, G.grp)
    if user is not None:
        query = query.where((G.username == user.username) & (G.domain == user.domain))
    with reading("grp"):
        return [_row(r) for r in query]
