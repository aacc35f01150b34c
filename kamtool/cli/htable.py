"""`kamtool htable ...`: the running server's hash tables (htable module)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import completion
from kamtool.cli.context import out
from kamtool.cli.runtime import client

NAME = "htable"
app = typer.Typer(name=NAME, help="Hash tables in the running server (htable).",
                  no_args_is_help=True)  # fmt: skip

TableArg = Annotated[
    str,
    typer.Argument(
        metavar="TABLE", help="Hash table name.", autocompletion=completion.htable_names
    ),
]
KeyArg = Annotated[str, typer.Argument(metavar="KEY", help="Item name.")]


@app.command("dump")
def dump(table: TableArg) -> None:
    """Every item of a table (htable.dump)."""
    from kamtool.core.runtime import htable

    with client() as rpc:
        rows = htable.dump(rpc, table)
    out().table(rows, ["name", "value", "type"], empty=f"{table} is empty")


@app.command("get")
def get(table: TableArg, key: KeyArg) -> None:
    """One item (htable.get)."""
    from kamtool.core.runtime import htable

    with client() as rpc:
        out().record(htable.get(rpc, table, key))


@app.command("set")
def set_(
    table: TableArg,
    key: KeyArg,
    value: Annotated[str, typer.Argument(help="New value.")],
    as_int: Annotated[bool, typer.Option("--int", help="Store an integer (htable.seti).")] = False,
) -> None:
    """Set an item (htable.sets, or htable.seti with --int)."""
    from kamtool.core.runtime import htable
    from kamtool.errors import BadInput

    typed: str | int = value
    if as_int:
        try:
            typed = int(value, 0)
        except ValueError:
            raise BadInput(f"--int: {value!r} is not an integer") from None
    with client() as rpc:
        message = htable.set_value(rpc, table, key, typed)
    out().done(f"{table}[{key}] = {typed!r}: {message}", {"ok": True, "message": message})


@app.command("rm")
def rm(table: TableArg, key: KeyArg) -> None:
    """Delete an item (htable.delete)."""
    from kamtool.core.runtime import htable

    with client() as rpc:
        message = htable.delete(rpc, table, key)
    out().done(f"{table}[{key}]: {message}", {"ok": True, "message": message})


@app.command("reload")
def reload(table: TableArg) -> None:
    """Reload a table from its database table (htable.reload)."""
    from kamtool.core.runtime import htable

    with client() as rpc:
        htable.reload(rpc, table)
    out().done(f"{table} reloaded")


@app.command("list")
def list_() -> None:
    """The hash tables and their settings (htable.listTables)."""
    from kamtool.core.runtime import htable

    with client() as rpc:
        out().table(htable.tables(rpc), empty="no hash tables")
