"""`kamtool alias ...`: database aliases (dbaliases table, alias_db module)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.options import NoReloadOption

NAME = "alias"
app = typer.Typer(name=NAME, help="User aliases (dbaliases table).", no_args_is_help=True)

COLUMNS = ["id", "alias", "user"]
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
    """Add an alias for a user (kamctl alias_db add ALIAS USER)."""
    from kamtool.core import aliases

    a, u = provision.user(alias, "alias"), provision.user(user)
    provision.edit(aliases.add, a, u, force=force, no_reload=no_reload)


@app.command("rm")
def rm(alias: AliasArg, no_reload: NoReloadOption = False) -> None:
    """Remove an alias."""
    from kamtool.core import aliases

    a = provision.user(alias, "alias")
    provision.edit(aliases.remove, a, no_reload=no_reload)


@app.command("show")
def show(
    user: Annotated[
        str | None, typer.Argument(help="Only aliases of this user.", show_default=False)
    ] = None,
) -> None:
    """List aliases."""
    from kamtool.core import aliases

    u = provision.user(user) if user is not None else None
    provision.listing(aliases.show, u, columns=COLUMNS, empty="no aliases")
