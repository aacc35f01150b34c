"""`kamtool dispatcher ...`: the dispatcher table (destination sets)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kamtool.cli import provision
from kamtool.cli.options import NoReloadOption
from kamtool.cli.runtime import add_dispatcher_commands

NAME = "dispatcher"
app = typer.Typer(
    name=NAME, help="Dispatcher destinations (dispatcher table).", no_args_is_help=True
)

COLUMNS = ["id", "setid", "destination", "flags", "priority", "attrs", "description"]


def _opt(help_text: str, metavar: str) -> Any:
    return typer.Option(help=help_text, metavar=metavar, show_default=False)


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
    weight: Annotated[int | None, _opt("Share in % for algorithm 9 (1-100).", "1-100")] = None,
    rweight: Annotated[
        int | None, _opt("Relative weight for algorithm 11 (1-100).", "1-100")
    ] = None,
    duid: Annotated[str | None, _opt("Unique id for call load (algorithm 10).", "ID")] = None,
    maxload: Annotated[
        int | None, _opt("Calls at most at a time (algorithm 10, 0 no limit).", "N")
    ] = None,
    socket: Annotated[
        str | None, _opt("Local socket to send from ([proto:]addr[:port]).", "SOCKET")
    ] = None,
    obproxy: Annotated[str | None, _opt("Outbound proxy SIP URI.", "URI")] = None,
    ping_from: Annotated[str | None, _opt("From URI of the OPTIONS probes.", "URI")] = None,
    latency: Annotated[
        int | None, _opt("Initial latency estimate in ms (algorithm 13).", "MS")
    ] = None,
    no_reload: NoReloadOption = False,
) -> None:
    """Add a destination (kamctl order: SETID URI [FLAGS] [PRIORITY] [ATTRS] [DESCRIPTION]).

    Attributes may also be given one by one (--weight 50 --duid gw1 ...); all of them
    are checked as the dispatcher reads them, so a typo is refused, not loaded as unset.
    """
    from kamtool.core import dispatcher_db

    named = {"weight": weight, "rweight": rweight, "duid": duid, "maxload": maxload,
             "socket": socket, "obproxy": obproxy, "ping_from": ping_from,
             "latency": latency}  # fmt: skip
    provision.edit(
        dispatcher_db.add, setid, uri, flags, priority, attrs, description, named=named,
        no_reload=no_reload,
    )  # fmt: skip


@app.command("rm")
def rm(
    row_id: Annotated[
        int, typer.Argument(metavar="ID", help="Row id (see show).", show_default=False)
    ],
    no_reload: NoReloadOption = False,
) -> None:
    """Remove one destination by its row id."""
    from kamtool.core import dispatcher_db

    provision.edit(dispatcher_db.remove, row_id, no_reload=no_reload)


@app.command("rmset")
def rmset(
    setid: Annotated[int, typer.Argument(help="Set id.", show_default=False)],
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
