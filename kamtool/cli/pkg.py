"""``kamtool pkg ...``: each process's private memory (kamcli pkg)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.output import Column
from kamtool.cli.runtime import client

NAME = "pkg"
app = typer.Typer(name=NAME, help="Private (per-process) memory of the server.",
                  no_args_is_help=True)  # fmt: skip

COLUMNS = [
    Column("entry", "IDX", "right"), Column("pid", "PID", "right"), Column("description"),
    Column("real_used", "USED", "right"), Column("free", "FREE", "right"),
    Column("total", "SIZE", "right"), Column("used_percent", "USED%", "right"),
]  # fmt: skip


@app.callback()
def _group() -> None:
    """Private (per-process) memory of the server."""


@app.command("stats")
def stats(
    pid: Annotated[int | None, typer.Option("--pid", help="Only this process.",
                                            show_default=False)] = None,
) -> None:  # fmt: skip
    """Used and free private memory of every process, in bytes (pkg.stats)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        rows = server.pkg(rpc, pid=pid)
    out().table(rows, COLUMNS, empty="no process")


@app.command("info")
def info() -> None:
    """The allocator and each process's pool size (pkg.info)."""
    with client() as rpc:
        out().record(dict(rpc.call("pkg.info")))
