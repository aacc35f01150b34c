"""`kamtool mtree ...`: the mtree module's prefix trees (mtrees table; kamcli mtree)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.context import out
from kamtool.cli.options import NoReloadOption

NAME = "mtree"
app = typer.Typer(name=NAME, help="Prefix trees (mtrees table).", no_args_is_help=True)

COLUMNS = ["id", "tname", "tprefix", "tvalue"]
CharListOption = Annotated[
    str,
    typer.Option(
        "--char-list", help="The characters prefixes may hold (mtree's char_list modparam)."
    ),
]


def _arg(help: str):
    return typer.Argument(help=help, show_default=False)


@app.command("add")
def add(
    tname: Annotated[str, _arg("Tree name.")],
    tprefix: Annotated[str, _arg("Prefix, e.g. 4930.")],
    tvalue: Annotated[str, _arg("Value the prefix maps to.")],
    char_list: CharListOption = "0123456789",
    no_reload: NoReloadOption = False,
) -> None:
    """Add a prefix to a tree."""
    from kamtool.core import mtree

    provision.edit(mtree.add, tname, tprefix, tvalue, char_list=char_list, no_reload=no_reload)


@app.command("rm")
def rm(
    tname: Annotated[str, _arg("Tree name.")],
    tprefix: Annotated[str | None, _arg("The prefix to remove.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Remove the whole tree.")] = False,
    no_reload: NoReloadOption = False,
) -> None:
    """Remove a prefix from a tree (or the whole tree with --all)."""
    from kamtool.core import mtree

    provision.edit(mtree.remove, tname, tprefix, whole=all_, no_reload=no_reload)


@app.command("show")
def show(tname: Annotated[str | None, _arg("Only this tree.")] = None) -> None:
    """List the rows in the database, by tree and prefix."""
    from kamtool.core import mtree

    provision.listing(mtree.show, tname, columns=COLUMNS, empty="no mtree rows")


@app.command("import")
def import_(
    file: Annotated[Path, _arg("CSV file with a header line ('-' for stdin).")],
    char_list: CharListOption = "0123456789",
    no_reload: NoReloadOption = False,
) -> None:
    """Add many prefixes from CSV (columns tname, tprefix, tvalue), all or nothing."""
    from kamtool.core import mtree

    with provision.text_input(file) as stream, provision.database() as db:
        change = mtree.import_csv(db, stream, char_list=char_list)
    provision.report(change, no_reload=no_reload)


@app.command("match")
def match(
    tname: Annotated[str, _arg("Tree name.")],
    value: Annotated[str, _arg("The input, e.g. a number.")],
    every: Annotated[
        bool, typer.Option("--all", help="Every matching prefix, not just the longest.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Match from the database, without a server.")
    ] = False,
    char_list: CharListOption = "0123456789",
) -> None:
    """The longest prefix of VALUE in tree TNAME and its value (mtree.match, or --offline)."""
    if offline:
        from kamtool.core import mtree

        with provision.database() as db:
            rows = mtree.match(db, tname, value, every=every, char_list=char_list)
    else:
        from kamtool.cli.runtime import client
        from kamtool.core.runtime import mtree as rt

        with client() as rpc:
            rows = rt.match(rpc, tname, value, every=every)
    out().table(rows, ["PREFIX", "TVALUE"], empty="no match")


@app.command("list")
def list_(tname: Annotated[str | None, _arg("Only trees whose name starts so.")] = None) -> None:
    """The trees as the running server holds them (mtree.list)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import mtree as rt

    with client() as rpc:
        rows = rt.list_(rpc, tname)
    out().table(rows, COLUMNS[1:], empty="the server holds no trees")


@app.command("summary")
def summary() -> None:
    """One line per tree the server holds: type, nodes, items, memory (mtree.summary)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import mtree as rt

    with client() as rpc:
        rows = rt.summary(rpc)
    out().table(rows, empty="the server holds no trees")


@app.command("reload")
def reload() -> None:
    """Reload every tree from the database (mtree.reload)."""
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import mtree as rt

    with client() as rpc:
        message = rt.reload(rpc)
    out().done(message, {"ok": True, "message": message})
