"""`kamtool dispatcher ...`: the dispatcher table (destination sets)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import completion, provision
from kamtool.cli.options import NoReloadOption
from kamtool.cli.runtime import add_dispatcher_commands

NAME = "dispatcher"
app = typer.Typer(
    name=NAME, help="Dispatcher destinations (dispatcher table).", no_args_is_help=True
)

COLUMNS = ["id", "setid", "destination", "flags", "priority", "attrs", "description"]


@app.command("add")
def add(
    setid: Annotated[int, typer.Argument(help="Set id.", show_default=False)],
    uri: Annotated[str, typer.Argument(help="Destination SIP URI.", show_default=False)],
    flags: Annotated[
        str, typer.Argument(help="1 inactive, 2 trying, 4 disabled, 8 probing, 16 skip DNS.")
    ] = "0",
    priority: Annotated[str, typer.Argument(help="Priority within the set.")] = "0",
    attrs: Annotated[str, typer.Argument(help="Attributes (weight=50;duid=x ...).")] = "",
    description: Annotated[str, typer.Argument(help="Free text.")] = "",
    no_reload: NoReloadOption = False,
) -> None:
    """Add a destination (kamctl order: SETID URI [FLAGS] [PRIORITY] [ATTRS] [DESCRIPTION])."""
    from kamtool.core import dispatcher_db

    provision.edit(
        dispatcher_db.add, setid, uri, flags, priority, attrs, description, no_reload=no_reload
    )


@app.command("rm")
def rm(
    row_id: Annotated[
        int,
        typer.Argument(
            metavar="ID",
            help="Row id (see show).",
            show_default=False,
            autocompletion=completion.dispatcher_ids,
        ),
    ],
    no_reload: NoReloadOption = False,
) -> None:
    """Remove one destination by its row id."""
    from kamtool.core import dispatcher_db

    provision.edit(dispatcher_db.remove, row_id, no_reload=no_reload)


@app.command("rmset")
def rmset(
    setid: Annotated[
        int,
        typer.Argument(
            help="Set id.", show_default=False, autocompletion=completion.dispatcher_sets
        ),
    ],
    no_reload: NoReloadOption = False,
) -> None:
    """Remove every destination of a set."""
    from kamtool.core import dispatcher_db

    provision.edit(dispatcher_db.remove_set, setid, no_reload=no_reload)


@app.command("show")
def show(
    setid: Annotated[int | None, typer.Argument(help="Only this set.", show_default=False)] = None,
) -> None:
    """List the dispatcher table (from the database)."""
    from kamtool.core import dispatcher_db

    provision.listing(
        dispatcher_db.show, setid, columns=COLUMNS, empty="no dispatcher destinations"
    )


# Run-time views and reloads over JSON-RPC (kamtool/cli/runtime.py).
add_dispatcher_commands(app)
