"""`kamtool trusted ...`: the permissions module's trusted table."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.options import NoReloadOption
from kamtool.cli.runtime import add_trusted_commands

NAME = "trusted"
app = typer.Typer(
    name=NAME, help="Trusted peers (permissions trusted table).", no_args_is_help=True
)

COLUMNS = ["id", "src_ip", "proto", "from_pattern", "ruri_pattern", "tag", "priority"]


@app.command("add")
def add(
    src_ip: Annotated[str, typer.Argument(help="Source IP address.", show_default=False)],
    proto: Annotated[
        str, typer.Argument(help="any, udp, tcp, tls, sctp, ws, wss or none.", show_default=False)
    ],
    from_pattern: Annotated[
        str | None,
        typer.Argument(
            help="POSIX basic regex (Kamailio's regcomp) the From URI must match.",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[str | None, typer.Argument(help="Tag for the peer.", show_default=False)] = None,
    ruri_pattern: Annotated[
        str | None,
        typer.Option(
            "--ruri-pattern", help="POSIX basic regex the Request-URI must match.",
            show_default=False,
        ),
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Matching priority.")] = 0,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a trusted peer (kamctl trusted add SRC_IP PROTO [FROM_PATTERN] [TAG])."""
    from kamtool.core import permissions

    provision.edit(
        permissions.trusted_add,
        src_ip,
        proto,
        from_pattern,
        tag,
        ruri_pattern=ruri_pattern,
        priority=priority,
        no_reload=no_reload,
    )


@app.command("rm")
def rm(
    src_ip: Annotated[str, typer.Argument(help="Source IP address.", show_default=False)],
    no_reload: NoReloadOption = False,
) -> None:
    """Remove every trusted entry of a source IP."""
    from kamtool.core import permissions

    provision.edit(permissions.trusted_remove, src_ip, no_reload=no_reload)


@app.command("show")
def show(
    src_ip: Annotated[
        str | None, typer.Argument(help="Only this source IP.", show_default=False)
    ] = None,
) -> None:
    """List the trusted table (from the database)."""
    from kamtool.core import permissions

    provision.listing(permissions.trusted_show, src_ip, columns=COLUMNS, empty="no trusted peers")


# Run-time views and reloads over JSON-RPC (kamtool/cli/runtime.py).
add_trusted_commands(app)
