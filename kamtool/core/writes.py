"""How provisioning services write: one transaction, errors translated, a Change returned.

Every service that edits the database returns a :class:`Change`. The CLI renders it
and then gives it to the reload hook (``kamtool.core.reload.after_edit``), so a running
Kamailio or kamtool proxy can pick up the edit; the services themselves never talk RPC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kamtool.db.orm import peewee
from kamtool.errors import AlreadyExists, BadInput, DatabaseUnavailable, KamtoolError, SchemaError

# Which table each kind of change touches; the reload hook maps kinds to RPC reloads
# (address -> permissions.addressReload, trusted -> permissions.trustedReload,
# dispatcher -> dispatcher.reload, domain -> domain.reload; subscriber/alias/acl need none
# because auth_db, alias_db and group read the database on every request; dialplan ->
# dialplan.reload, mtree -> mtree.reload, lcr -> lcr.reload, carrierroute ->
# cr.reload_routes; uacreg rows go one by one with uac.reg_refresh / uac.reg_remove;
# speeddial and avp are read on every lookup).
KINDS = (
    "subscriber",
    "address",
    "trusted",
    "dispatcher",
    "domain",
    "alias",
    "acl",
    "dialplan",
    "mtree",
    "uacreg",
    "speeddial",
    "avp",
    "lcr",
    "carrierroute",
)


@dataclass
class Change:
    """What a service changed: ``kind`` (one of :data:`KINDS`), ``action`` and the rows.

    ``rows`` hold column values with secrets (password, ha1, ha1b) left out, so the
    CLI can print them and ``--json`` scripts can read them.
    """

    kind: str
    action: str  # "added", "removed", "updated", "imported"
    rows: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "kind": self.kind,
            "action": self.action,
            "count": self.count,
            "rows": self.rows,
            "message": self.message,
        }


_MISSING_TABLE = re.compile(
    r"no such table: (\w+)|Table '[^.']*\.?(\w+)' doesn't exist|relation \"(\w+)\" does not exist",
    re.IGNORECASE,
)


def translate(exc: peewee.PeeweeException, what: str) -> KamtoolError:
    """A peewee/driver error as a KamtoolError; ``what`` names the thing being written.

    The driver's text is kept out of messages about subscribers because it can quote
    the statement's parameters (a password) on some engines.
    """
    text = str(exc)
    if isinstance(exc, peewee.IntegrityError):
        return AlreadyExists(f"{what} already exists")
    m = _MISSING_TABLE.search(text)
    if m:
        table = next(g for g in m.groups() if g)
        return SchemaError(
            f"the database has no table {table!r}", hint="create the tables: kamtool dbctl create"
        )
    if isinstance(exc, peewee.DataError):
        return BadInput(f"a value for {what} does not fit its column")
    if isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)):
        return DatabaseUnavailable(f"database error while writing {what}: {type(exc).__name__}")
    return DatabaseUnavailable(f"database error while writing {what}: {type(exc).__name__}")


@contextmanager
def transaction(db: peewee.Database, what: str) -> Iterator[None]:
    """Run the block in one transaction; database errors become KamtoolErrors."""
    try:
        with db.atomic():
            yield
    except peewee.PeeweeException as exc:
        raise translate(exc, what) from None


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Translate database errors raised while reading ``what``."""
    try:
        yield
    except peewee.PeeweeException as exc:
        raise translate(exc, what) from None
