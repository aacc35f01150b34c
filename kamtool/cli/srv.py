"""``kamtool srv ...``: the server itself (kamcli srv): sockets, aliases, modules, RPC
methods and their help, build and run-time information."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.output import Column
from kamtool.cli.runtime import client, debug, version

NAME = "srv"
app = typer.Typer(name=NAME, help="The server: sockets, aliases, modules, RPC methods, run info.",
                  no_args_is_help=True)  # fmt: skip


@app.callback()
def _group() -> None:
    """The server: sockets, aliases, modules, RPC methods, run info."""


def _lines(items: list[str]) -> None:
    if out().json_mode:
        out().json(items)
    else:
        print("\n".join(items))


@app.command("sockets")
def sockets() -> None:
    """Listening sockets (core.sockets_list)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        rows = server.sockets(rpc)
    out().table(rows, [Column("proto"), Column("address"), Column("port", justify="right"),
                       Column("advertise"), Column("virtual")], empty="no socket")  # fmt: skip


@app.command("aliases")
def aliases() -> None:
    """Host names the server takes as its own (core.aliases_list)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        rows = server.aliases(rpc)
    out().table(rows, ["proto", "address", "port"], empty="no alias")


@app.command("modules")
def modules() -> None:
    """Loaded modules (core.modules)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        _lines(server.modules(rpc))


@app.command("rpclist")
def rpclist() -> None:
    """The server's RPC methods (system.listMethods)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        _lines(server.methods(rpc))


@app.command("rpchelp")
def rpchelp(method: Annotated[str, typer.Argument(help="An RPC method, e.g. core.psx.")]) -> None:
    """The server's help of an RPC method (system.methodHelp)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        text = server.method_help(rpc, method)
    if out().json_mode:
        out().json({"method": method, "help": text})
    else:
        print(text)


@app.command("info")
def info() -> None:
    """Version, compiler and build flags (core.info)."""
    with client() as rpc:
        out().record(dict(rpc.call("core.info")))


@app.command("runinfo")
def runinfo() -> None:
    """Name, version, start time and uptime (core.runinfo)."""
    with client() as rpc:
        out().record(dict(rpc.call("core.runinfo")))


# kamctl's `srv version` and `srv debug [LEVEL]` (kamtool's top-level version and debug)
app.command("version", hidden=True)(version)
app.command("debug", hidden=True)(debug)
