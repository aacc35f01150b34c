"""``kamtool pipelimit ...``: the pipelimit module's pipes (kamcli pipelimit)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.runtime import client

NAME = "pipelimit"
app = typer.Typer(name=NAME, help="Rate-limiting pipes of the server (pipelimit).",
                  no_args_is_help=True)  # fmt: skip


@app.callback()
def _group() -> None:
    """Rate-limiting pipes of the server (pipelimit)."""


@app.command("list")
def list_() -> None:
    """Every pipe: algorithm, limit, counter (pl.get_pipes)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        out().table(server.pipes(rpc), empty="no pipe")


@app.command("stats")
def stats() -> None:
    """Every pipe's load and counter (pl.stats)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        out().table(server.pipe_stats(rpc), empty="no pipe")


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="The pipe.")],
    algorithm: Annotated[str, typer.Argument(help="TAILDROP, RED, NETWORK or FEEDBACK.")],
    limit: Annotated[int, typer.Argument(help="Requests per timer interval.")],
) -> None:
    """Change a pipe's algorithm and limit (pl.set_pipe)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        server.set_pipe(rpc, name, algorithm, limit)
    out().done(f"pipe {name}: {algorithm.upper()} {limit}",
               {"name": name, "algorithm": algorithm.upper(), "limit": limit})  # fmt: skip
