"""``kamtool shv ...``: shared variables, $shv(name) (kamcli shv)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.runtime import client

NAME = "shv"
app = typer.Typer(name=NAME, help="Shared variables of the server ($shv).",
                  no_args_is_help=True)  # fmt: skip


@app.callback()
def _group() -> None:
    """Shared variables of the server ($shv)."""


@app.command("get")
def get(
    name: Annotated[str | None, typer.Argument(help="One variable (default: all).",
                                               show_default=False)] = None,
) -> None:  # fmt: skip
    """Show shared variables (pv.shvGet)."""
    from kamtool.core.runtime import server

    with client() as rpc:
        out().table(server.shv_get(rpc, name), ["name", "type", "value"],
                    empty="no shared variable")  # fmt: skip


@app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="The variable.")],
    value: Annotated[str, typer.Argument(help="Its new value.")],
    as_str: Annotated[bool, typer.Option("--str", help="Set a string even if VALUE is a "
                                         "number.")] = False,
) -> None:  # fmt: skip
    """Set a shared variable (pv.shvSet): an integer when VALUE is one, else a string."""
    from kamtool.core.runtime import server

    with client() as rpc:
        result = server.shv_set(rpc, name, value, as_int=False if as_str else None)
    out().done(f"$shv({name}) = {result['value']!r}", result)
