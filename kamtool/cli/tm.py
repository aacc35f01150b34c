"""`kamtool tm ...`: transaction counters (tm module)."""

from __future__ import annotations

import typer

from kamtool.cli.context import out
from kamtool.cli.runtime import client

NAME = "tm"
app = typer.Typer(name=NAME, help="Transactions in the running server (tm).",
                  no_args_is_help=True)  # fmt: skip


@app.callback()  # keeps Typer from folding a one-command group into its command
def _group() -> None:
    """Transactions in the running server (tm)."""


@app.command("stats")
def stats() -> None:
    """Transaction counters (tm.stats)."""
    from kamtool.core.runtime import tm

    with client() as rpc:
        out().record(tm.stats(rpc))
