"""Shared plumbing of the provisioning commands (subscriber, address, trusted, dispatcher,
domain, alias, acl): open the configured database, parse user names with the default
domain, report a :class:`~kamtool.core.writes.Change` and hand it to the reload hook.

Core and database modules are imported inside the functions so that ``kamtool --help``
and unrelated commands do not pay for them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kamtool.cli.context import out, settings
from kamtool.errors import BadInput

if TYPE_CHECKING:
    import peewee

    from kamtool.core.users import User
    from kamtool.core.writes import Change


@contextmanager
def database() -> Iterator[peewee.Database]:
    """The configured database, with every model bound to it, closed afterwards.

    A new SQLite file gets Kamailio's tables on first use (``kamtool add`` works with
    no set-up); a server database without the tables fails with a hint to create them.
    """
    from kamtool.db.connect import connected

    with connected(settings().effective_db_url) as db:
        yield db


def user(spec: str, what: str = "user") -> User:
    """``user``, ``user@domain`` or ``sip:user@domain``, with the configured default domain."""
    from kamtool.core.users import parse_user

    return parse_user(spec, settings().sip_domain, what=what)


def password_arg(value: str) -> str:
    """The PASSWORD argument; ``-`` reads it from the first line of stdin (keeps it out of ps)."""
    if value != "-":
        return value
    line = sys.stdin.readline()
    if not line:
        raise BadInput("PASSWORD is '-' but stdin is empty")
    return line.rstrip("\r\n")


def report(change: Change, *, no_reload: bool) -> None:
    """Print what changed (a message, or the Change as JSON), then run the reload hook."""
    out().done(change.message, change.to_dict())
    if not no_reload:
        after_edit(change)


def after_edit(change: Change) -> None:
    """Tell a running server about ``change``: ``kamtool.core.reload.after_edit`` reloads
    cached tables (address, trusted, dispatcher, domain) and, for a removed subscriber,
    drops its registrations with ``ul.rm`` as ``kamctl rm`` does. It never raises: the
    database edit stands whether or not a server answered.
    """
    from kamtool.core import reload as reload_hook

    reload_hook.after_edit(change.kind, settings(), out(), change=change)


def show(rows: list[dict[str, Any]], columns: list[Any], *, empty: str) -> None:
    """Rows as a table (or a JSON list)."""
    out().table(rows, columns, empty=empty)
