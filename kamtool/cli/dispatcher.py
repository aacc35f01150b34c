"""`kamtool dispatcher ...`: the dispatcher table (destination sets)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kamtool.cli import completion, provision
from kamtool.cli.context import out
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


@app.command("select")
def select(
    setid: Annotated[int, typer.Argument(help="Set id.", show_default=False)],
    alg: Annotated[int, typer.Argument(help="Algorithm 0-13 (as ds_select_dst).")],
    call_id: Annotated[str, _opt("Call-ID (algorithms 0, 10).", "TEXT")] = "",
    from_uri: Annotated[str, _opt("From URI (algorithm 1).", "URI")] = "",
    to_uri: Annotated[str, _opt("To URI (algorithm 2).", "URI")] = "",
    ruri: Annotated[str, _opt("Request URI (algorithm 3).", "URI")] = "",
    auth_user: Annotated[str | None, _opt("Digest user name (algorithm 5).", "USER")] = None,
    key: Annotated[str | None, _opt("The hash_pvar value (algorithm 7).", "TEXT")] = None,
    calls: Annotated[int, typer.Option(help="Count where this many calls go.")] = 1,
    user_only: Annotated[
        bool, typer.Option(help="Hash URIs by user only (the module's flags 1).")
    ] = False,
) -> None:
    """Where ds_select_dst() sends a call, from the database, as Kamailio would after a
    reload (the hash algorithms give what Kamailio gives for the same request)."""
    from kamtool.core import dispatcher_db

    request = {"call_id": call_id, "from_uri": from_uri, "to_uri": to_uri, "ruri": ruri,
               "auth_user": auth_user, "pv_value": key}  # fmt: skip
    with provision.database() as db:
        result = dispatcher_db.select(
            db, setid, alg, request, calls=calls, flags=3 if user_only else 2
        )
    out().record(result)


@app.command("hash")
def hash_(
    value: Annotated[str, typer.Argument(help="Text to hash.", show_default=False)],
    value2: Annotated[str | None, typer.Argument(help="A second text.", show_default=False)] = None,
    slots: Annotated[int, typer.Option(help="Number of slots for the slot number.")] = 0,
) -> None:
    """The dispatcher's hash of a text (offline, as the dispatcher.hash RPC)."""
    from kamtool.core import dispatcher_db

    out().record(dispatcher_db.hash_of(value, value2, slots))


# Run-time views and reloads over JSON-RPC (kamtool/cli/runtime.py).
add_dispatcher_commands(app)
