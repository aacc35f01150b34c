"""`kamtool address ...`: the permissions module's address table (IP ACL groups)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.options import NoReloadOption
from kamtool.cli.runtime import add_address_commands

NAME = "address"
app = typer.Typer(
    name=NAME, help="IP address groups (permissions address table).", no_args_is_help=True
)

COLUMNS = ["id", "grp", "ip_addr", "mask", "port", "tag"]


@app.command("add")
def add(
    grp: Annotated[int, typer.Argument(help="Group id.", show_default=False)],
    ip: Annotated[str, typer.Argument(help="IPv4 or IPv6 address.", show_default=False)],
    mask: Annotated[
        str | None, typer.Argument(help="Prefix length [32, or 128 for IPv6].", show_default=False)
    ] = None,
    port: Annotated[
        str | None, typer.Argument(help="Port, 0 = any [0].", show_default=False)
    ] = None,
    tag: Annotated[str | None, typer.Argument(help="Tag [''].", show_default=False)] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Add an address (kamctl address add GRP IP [MASK] [PORT] [TAG])."""
    from kamtool.core import permissions

    provision.edit(permissions.address_add, grp, ip, mask, port, tag, no_reload=no_reload)


@app.command("rm")
def rm(
    grp: Annotated[int, typer.Argument(help="Group id.", show_default=False)],
    ip: Annotated[str, typer.Argument(help="IP address.", show_default=False)],
    no_reload: NoReloadOption = False,
) -> None:
    """Remove an address from a group."""
    from kamtool.core import permissions

    provision.edit(permissions.address_remove, grp, ip, no_reload=no_reload)


@app.command("show")
def show(
    grp: Annotated[int | None, typer.Argument(help="Only this group.", show_default=False)] = None,
) -> None:
    """List the address table (from the database)."""
    from kamtool.core import permissions

    provision.listing(permissions.address_show, grp, columns=COLUMNS, empty="no addresses")


# Run-time views and reloads over JSON-RPC (kamtool/cli/runtime.py).
add_address_commands(app)
