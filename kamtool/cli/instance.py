"""`kamtool instance ...`: the servers named in kamtool.toml's ``[instance.NAME]`` sections."""

from __future__ import annotations

import typer

from kamtool.cli.context import out, settings

NAME = "instance"
app = typer.Typer(
    name=NAME,
    help="Named servers: the instance.NAME tables of kamtool.toml (-i NAME).",
    no_args_is_help=True,
)


@app.callback()  # keeps Typer from folding a one-command group into its command
def _group() -> None:
    """Named servers: the instance.NAME tables of kamtool.toml (-i NAME)."""


@app.command("list")
def list_() -> None:
    """The default instance and each named one: database, RPC endpoint, domain."""
    from kamtool.core.instances import list_instances

    out().table(list_instances(settings()), ["name", "current", "db_url", "rpc_url", "domain"])
