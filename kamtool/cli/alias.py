"""`kamtool alias ...`: user aliases, where kamctlrc's ``ALIASES_TYPE`` keeps them: the
``dbaliases`` table (alias_db; "DB", the default) or the running server's ``aliases``
usrloc table over JSON-RPC ("UL", as ``kamctl alias``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import settings
from kamtool.cli.options import NoReloadOption

if TYPE_CHECKING:
    from kamtool.core.users import User

NAME = "alias"
# the help stays as kamtool.cli.lazy lists it; ALIASES_TYPE=UL is told per command
app = typer.Typer(name=NAME, help="User aliases (dbaliases table).", no_args_is_help=True)

COLUMNS = ["id", "alias", "user"]
UL_COLUMNS = ["alias", "user", "contact"]


def in_usrloc() -> bool:
    """kamctlrc's ALIASES_TYPE="UL": aliases live in the running server's usrloc."""
    return (settings().aliases_type or "").upper() == "UL"
AliasArg = Annotated[
    str, typer.Argument(help="alias, alias@domain or sip:alias@domain.", show_default=False)
]


@app.command("add")
def add(
    alias: AliasArg,
    user: Annotated[str, typer.Argument(help="The user it stands for.", show_default=False)],
    force: Annotated[
        bool, typer.Option("--force", help="Also when USER is not a subscriber here.")
    ] = False,
    no_reload: NoReloadOption = False,
) -> None:
    """Add an alias for a user (kamctl alias_db add ALIAS USER; with ALIASES_TYPE=UL,
    kamctl alias add ALIAS sip:USER)."""
    from kamtool.core import aliases

    a, u = provision.user(alias, "alias"), provision.user(user)
    if in_usrloc():
        _ul_add(a, u, force=force)
        return
    provision.edit(aliases.add, a, u, force=force, no_reload=no_reload)


def _ul_add(a: User, u: User, *, force: bool) -> None:
    """``alias add`` with ALIASES_TYPE=UL: the subscriber checks on the database, the
    alias itself over JSON-RPC."""
    from kamtool.cli.runtime import client
    from kamtool.core import aliases_ul, subscribers
    from kamtool.errors import NotFound

    with provision.database(), client() as rpc:
        if not force and not subscribers.exists(u):
            raise NotFound(
                f"no subscriber '{u}' for alias '{a}' to stand for",
                hint="add the user first, or --force to alias a user that is not a subscriber",
            )
        change = aliases_ul.add(rpc, a, u, is_subscriber=subscribers.exists)
    provision.report(change, no_reload=True)  # the server has it already


@app.command("rm")
def rm(alias: AliasArg, no_reload: NoReloadOption = False) -> None:
    """Remove an alias (with ALIASES_TYPE=UL: ul.rm on the aliases table)."""
    from kamtool.core import aliases

    a = provision.user(alias, "alias")
    if in_usrloc():
        from kamtool.cli.runtime import client
        from kamtool.core import aliases_ul

        with client() as rpc:
            change = aliases_ul.remove(rpc, a)
        provision.report(change, no_reload=True)
        return
    provision.edit(aliases.remove, a, no_reload=no_reload)


@app.command("show")
def show(
    user: Annotated[
        str | None,
        typer.Argument(help="Only the aliases of this user, or this alias.", show_default=False),
    ] = None,
) -> None:
    """List aliases (with ALIASES_TYPE=UL: the server's aliases usrloc table)."""
    from kamtool.core import aliases

    u = provision.user(user) if user is not None else None
    if in_usrloc():
        from kamtool.cli.runtime import client
        from kamtool.core import aliases_ul

        with client() as rpc:
            rows = aliases_ul.show(rpc, u)
        provision.show(rows, UL_COLUMNS, empty="no aliases")
        return
    provision.listing(aliases.show, u, columns=COLUMNS, empty="no aliases")
