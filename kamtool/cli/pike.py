"""`kamtool pike ...`: flood detection state (pike module)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.runtime import client

NAME = "pike"
app = typer.Typer(name=NAME, help="Flood detection in the running server (pike).",
                  no_args_is_help=True)  # fmt: skip


@app.callback()  # keeps Typer from folding a one-command group into its command
def _group() -> None:
    """Flood detection in the running server (pike)."""


@app.command("top")
def top(
    all_: Annotated[
        bool, typer.Option("--all", help="Every tracked address, not only HOT.")
    ] = False,
) -> None:
    """Addresses sending too fast (pike.top HOT, or ALL)."""
    from kamtool.core.runtime import pike

    with client() as rpc:
        result = pike.top(rpc, "ALL" if all_ else "HOT")
    if out().json_mode:
        out().json(result)
        return
    out().table(result["rows"], ["ip", "hits_prev", "hits_curr", "expires", "status"],
                empty="no address over the limit")  # fmt: skip
