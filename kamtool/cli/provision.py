"""Shared plumbing of the provisioning commands (subscriber, address, trusted, dispatcher,
domain, alias, acl): open the configured database, parse user names with the default
domain, report a :class:`~kamtool.core.writes.Change` and hand it to the reload hook.

Core and database modules are imported inside the functions so that ``kamtool --help``
and unrelated commands do not pay for them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kamtool.cli.context import out, settings
from kamtool.errors import BadInput

if TYPE_CHECKING:
    from kamtool.core.users import User
    from kamtool.core.writes import Change
    from kamtool.db.orm import peewee


@contextmanager
def database() -> Iterator[peewee.Database]:
    """The configured database, with every model bound to it, closed afterwards.

    A new SQLite file gets Kamailio's tables on first use (``kamtool add`` works with
    no set-up); a server database without the tables fails with a hint to create them.
    """
    from kamtool.db.connect import connected

    url = settings().effective_db_url
    _kamailio_sqlite_must_exist(url)
    new = _new_sqlite_file(url)
    with connected(url) as db:
        if new is not None:  # said, so that a mistyped path does not go unnoticed
            out().info(f"new SQLite database {new} (Kamailio's tables created)")
        yield db


def _new_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file ``url`` names when it does not exist yet."""
    from pathlib import Path

    from kamtool.db.connect import parse_url

    u = parse_url(url)
    if u.engine != "sqlite" or not u.path or u.path == ":memory:":
        return None
    path = Path(u.path).expanduser()
    return None if path.exists() else str(path.resolve())


def _kamailio_sqlite_must_exist(url: str) -> None:
    """Refuse to create the SQLite file a kamctlrc (DB_PATH) or kamcli.ini names.

    That file is Kamailio's database: when it is missing the path is wrong (or this is
    not the server's machine), and a new empty database would answer "no subscribers"
    (exit 0) as kamtool's own default database rightly does on first use.
    """
    from pathlib import Path

    from kamtool.db.connect import parse_url
    from kamtool.errors import DatabaseUnavailable

    origin = settings().origins.get("db_url", "")
    if not origin.startswith(("kamctlrc", "kamcli.ini")):
        return
    u = parse_url(url)
    if u.engine != "sqlite" or not u.path or u.path == ":memory:":
        return
    if not Path(u.path).expanduser().exists():
        raise DatabaseUnavailable(
            f"no SQLite database at {u.path} (the database of {origin})",
            hint="check DB_PATH (kamctlrc) or [db] rwurl (kamcli.ini); "
            "kamtool dbctl create makes a new one",
            url=url,
        )


def user(spec: str, what: str = "user") -> User:
    """``user``, ``user@domain`` or ``sip:user@domain``, with the default domain.

    The default domain is the configured one; failing that, the only row of the
    ``domain`` table (what ``kamtool serve`` records), so that ``kamtool add 1001 pass``
    works on a single-domain server. With neither, kamctl's "domain unknown" error.
    """
    from kamtool.core.users import parse_user

    s = settings()
    default = s.sip_domain
    if default is None and "@" not in spec:
        default = sole_domain()
    parsed = parse_user(spec, default, what=what)
    if s.username_re:  # kamctlrc USERNAME_RE
        from kamtool.core.users import check_username_re

        check_username_re(parsed, s.username_re)
    return parsed


def sole_domain() -> str | None:
    """The domain table's only domain (the default for bare user names when none is
    configured), or None."""
    from kamtool.core import domains
    from kamtool.errors import KamtoolError

    try:
        with database() as db:
            return domains.sole_domain(db)
    except KamtoolError:  # no database or no table yet: the "domain unknown" error says more
        return None


def password_arg(value: str) -> str:
    """The PASSWORD argument; ``-`` reads it from the first line of stdin (keeps it out of ps)."""
    if value != "-":
        return value
    line = sys.stdin.readline()
    if not line:
        raise BadInput("PASSWORD is '-' but stdin is empty")
    return line.rstrip("\r\n")


def report(change: Change, *, no_reload: bool) -> None:
    """Print what changed (a message, or the Change as JSON), then run the reload hook.

    A reload that finally fails raises :class:`~kamtool.errors.ReloadFailed` (exit
    non-zero: the server still uses the old table); with ``--json`` the change then goes
    into the error document, so that stdout stays one JSON document. Otherwise the JSON
    says what became of the reload (``reload.status``: reloaded, unavailable when no
    server answered, unused, skipped), so that a script can tell "live" from "in the
    database only".
    """
    if out().json_mode:
        outcome = None if no_reload else after_edit(change)
        _raise_if_failed(change, outcome)
        data = change.to_dict()
        if outcome is not None:
            data["reload"] = outcome.to_dict()
        elif no_reload:
            data["reload"] = {"status": "skipped"}
        out().done(change.message, data)
        return
    out().done(change.message, change.to_dict())
    if not no_reload:
        _raise_if_failed(change, after_edit(change))


def _raise_if_failed(change: Change, outcome: Any) -> None:
    from kamtool.errors import ReloadFailed

    if outcome is None or outcome.status != "failed" or outcome.error is None:
        return
    raise ReloadFailed(
        f"{change.message}, but the running server did not reload it ({outcome.message}); "
        f"it still uses the old {change.kind} table: run `kamtool {change.kind} reload`",
        outcome.error,
        change=change.to_dict(),
        reload=outcome.to_dict(),
    )


def after_edit(change: Change) -> Any:
    """Tell a running server about ``change``: ``kamtool.core.reload.after_edit`` reloads
    cached tables (address, trusted, dispatcher, domain) and, for a removed subscriber,
    drops its registrations with ``ul.rm`` as ``kamctl rm`` does. The database edit stands
    whether or not a server answered; the reload's outcome (or None) is returned.
    """
    from kamtool.core import reload as reload_hook

    return reload_hook.after_edit(change.kind, settings(), out(), change=change)


def edit(core_call: Callable[..., Change], *args: Any, no_reload: bool, **kwargs: Any) -> None:
    """The body of an add/rm command: ``core_call(db, *args, **kwargs)`` on the configured
    database, then :func:`report` the Change it returns."""
    with database() as db:
        change = core_call(db, *args, **kwargs)
    report(change, no_reload=no_reload)


def listing(
    core_call: Callable[..., list[dict[str, Any]]], *args: Any, columns: list[Any], empty: str
) -> None:
    """The body of a show command: ``core_call(db, *args)`` rows from the configured
    database, shown with :func:`show`."""
    with database() as db:
        rows = core_call(db, *args)
    show(rows, columns, empty=empty)


def show(rows: list[dict[str, Any]], columns: list[Any], *, empty: str) -> None:
    """Rows as a table (or a JSON list)."""
    out().table(rows, columns, empty=empty)


@contextmanager
def text_input(file: Any) -> Iterator[Any]:
    """The UTF-8 text of ``file`` (``-``: stdin) as a stream; unreadable or non-UTF-8
    input is BadInput naming the file."""
    import io
    from pathlib import Path

    try:
        if str(file) == "-":
            text = sys.stdin.read()
        else:
            text = Path(file).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadInput(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{file} is not UTF-8 text") from None
    yield io.StringIO(text, newline=None)
