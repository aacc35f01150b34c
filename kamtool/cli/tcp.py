"""``kamtool tcp ...``: the server's TCP layer (kamcli tcp)."""

from __future__ import annotations

import typer

from kamtool.cli.context import out
from kamtool.cli.output import Column
from kamtool.cli.runtime import client

NAME = "tcp"
app = typer.Typer(name=NAME, help="TCP settings and connections of the server.",
                  no_args_is_help=True)  # fmt: skip


@app.callback()
def _group() -> None:
    """TCP settings and connections of the server."""


@app.command("options")
def options() -> None:
    """TCP settings: timeouts, lifetime, limits, keepalive (core.tcp_options)."""
    with client() as rpc:
        out().record(dict(rpc.call("core.tcp_options")))


@app.command("list")
def list_() -> None:
    """Open TCP connections (core.tcp_list)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        rows = server.tcp_connections(rpc)
    out().table(rows, [Column("id", justify="right"), Column("type"), Column("state"),
                       Column("src_ip"), Column("src_port", justify="right"),
                       Column("dst_ip"), Column("dst_port", justify="right"),
                       Column("lifetime", justify="right")],
                empty="no TCP connection")  # fmt: skip


@app.command("info")
def info() -> None:
    """Readers, connection counts and limits, queued bytes (core.tcp_info)."""
    with client() as rpc:
        out().record(dict(rpc.call("core.tcp_info")))
