"""Subscribers (the ``subscriber`` table that auth_db reads): add, passwd, rm, show.

Rows are the ones kamctl writes: ``username``, ``domain``, ``ha1``, ``ha1b`` and the
plain ``password`` ('' when plain-text storage is off). ``rm`` also deletes the user's
``grp`` (ACL) and ``dbaliases`` rows, in kamctl's order.
"""

from __future__ import annotations

from typing import Any

from kamtool.core import validate
from kamtool.core.users import User, credential_columns
from kamtool.core.writes import Change, reading, transaction
from kamtool.db import models
from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, NotFound

# Columns of older subscriber tables (version 6 and before) that Kamailio 5.x dropped.
EMAIL_COLUMN = "email_address"


def public_row(row: Any, *, email: bool = False, secrets: bool = False) -> dict[str, Any]:
    """A subscriber row for display: never the password or hashes unless ``secrets``."""
    out: dict[str, Any] = {"id": row.id, "username": row.username, "domain": row.domain}
    if email:
        out["email"] = getattr(row, EMAIL_COLUMN, None)
    if secrets:
        out.update(password=row.password, ha1=row.ha1, ha1b=row.ha1b)
    return out


def has_email_column(db: peewee.Database) -> bool:
    """True when this subscriber table still has kamailio 4.x's ``email_address`` column."""
    with reading("subscriber"):
        return any(c.name == EMAIL_COLUMN for c in db.get_columns("subscriber"))


def _email_table(db: peewee.Database) -> peewee.Table:
    # The models follow the 5.6 schema, which has no email column: address it directly.
    return peewee.Table("subscriber", ("id", EMAIL_COLUMN)).bind(db)


def exists(user: User) -> bool:
    S = models.Subscriber
    with reading("subscriber"):
        return (
            S.select(S.id).where((S.username == user.username) & (S.domain == user.domain)).exists()
        )


def alias_target(user: User) -> str | None:
    """``user@domain`` that ``user`` is an alias of in ``dbaliases``, if it is one."""
    A = models.Dbaliases
    with reading("dbaliases"):
        row = (
            A.select(A.username, A.domain)
            .where((A.alias_username == user.username) & (A.alias_domain == user.domain))
            .first()
        )
    return f"{row.username}@{row.domain}" if row else None


def add(
    db: peewee.Database,
    user: User,
    password: str,
    *,
    store_plaintext: bool = True,
    email: str | None = None,
    algorithm: str = "MD5",
) -> Change:
    """Insert ``user`` as kamctl add does; AlreadyExists (nothing written) if present."""
    validate.domain_name(user.domain, new=True)
    columns = credential_columns(
        user, password, store_plaintext=store_plaintext, algorithm=algorithm
    )
    if email is not None and not has_email_column(db):
        raise BadInput(
            "this subscriber table has no email_address column (Kamailio 5.x removed it)",
            hint="leave out --email",
        )
    if exists(user):
        raise AlreadyExists(f"user '{user}' already exists")
    target = alias_target(user)
    if target:
        # alias_db_lookup() would rewrite requests for this name to the alias target.
        raise AlreadyExists(f"user '{user}' already exists as an alias of '{target}'")
    S = models.Subscriber
    with transaction(db, f"user '{user}'"):
        new_id = S.insert(username=user.username, domain=user.domain, **columns).execute()
        if email is not None:
            t = _email_table(db)
            t.update({t.email_address: email}).where(t.id == new_id).execute()
    row = {"username": user.username, "domain": user.domain}
    if email is not None:
        row["email"] = email
    return Change("subscriber", "added", [row], 1, f"new user '{user}' added")


def passwd(
    db: peewee.Database,
    user: User,
    password: str,
    *,
    store_plaintext: bool = True,
    algorithm: str = "MD5",
) -> Change:
    """Set a new password (and both HA1 columns) for an existing user."""
    columns = credential_columns(
        user, password, store_plaintext=store_plaintext, algorithm=algorithm
    )
    S = models.Subscriber
    with transaction(db, f"user '{user}'"):
        n = (
            S.update(**columns)
            .where((S.username == user.username) & (S.domain == user.domain))
            .execute()
        )
    if not n:
        raise NotFound(f"non-existent user '{user}'")
    row = {"username": user.username, "domain": user.domain}
    return Change("subscriber", "updated", [row], n, f"password of '{user}' changed")


def remove(db: peewee.Database, user: User) -> Change:
    """Delete ``user`` with its ACL groups and its aliases, as kamctl rm does."""
    if not exists(user):
        raise NotFound(f"non-existent user '{user}'")
    S, A, G = models.Subscriber, models.Dbaliases, models.Grp
    with transaction(db, f"user '{user}'"):
        groups = (
            G.delete().where((G.username == user.username) & (G.domain == user.domain)).execute()
        )
        aliases = (
            A.delete().where((A.username == user.username) & (A.domain == user.domain)).execute()
        )
        S.delete().where((S.username == user.username) & (S.domain == user.domain)).execute()
    row = {
        "username": user.username,
        "domain": user.domain,
        "acl_groups_removed": groups,
        "aliases_removed": aliases,
    }
    return Change("subscriber", "removed", [row], 1, f"user '{user}' removed")


def show(
    db: peewee.Database, user: User | None = None, *, secrets: bool = False
) -> list[dict[str, Any]]:
    """Subscriber rows (one user, or all by domain and name); NotFound for a missing user."""
    email = has_email_column(db)
    S = models.Subscriber
    fields: list[Any] = [S.id, S.username, S.domain]
    if secrets:
        fields += [S.password, S.ha1, S.ha1b]
    if email:
        fields.append(peewee.Entity(EMAIL_COLUMN).alias(EMAIL_COLUMN))
    query = S.select(*fields)
    if user is not None:
        query = query.where((S.username == user.username) & (S.domain == user.domain))
    with reading("subscriber"):
        rows = [
            public_row(r, email=email, secrets=secrets)
            for r in query.order_by(S.domain, S.username)
        ]
    if user is not None and not rows:
        raise NotFound(f"non-existent user '{user}'")
    return rows
