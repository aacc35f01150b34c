"""``kamtool shm ...``: the server's shared memory (kamcli shm)."""

from __future__ import annotations

import typer

from kamtool.cli.context import out
from kamtool.cli.runtime import client

NAME = "shm"
app = typer.Typer(name=NAME, help="Shared memory of the server (one pool for all processes).",
                  no_args_is_help=True)  # fmt: skip


@app.callback()
def _group() -> None:
    """Shared memory of the server (one pool for all processes)."""


@app.command("stats")
def stats() -> None:
    """Total, used, free and peak shared memory in bytes (core.shmmem)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        out().record(server.shm(rpc))


@app.command("info")
def info() -> None:
    """The allocator and the pool's size (shm.info)."""
    with client() as rpc:
        out().record(dict(rpc.call("shm.info")))
