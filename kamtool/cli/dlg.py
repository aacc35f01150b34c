"""`kamtool dlg ...`: dialogs held by the running server."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kamtool.cli.context import out
from kamtool.cli.output import Column
from kamtool.cli.runtime import client
from kamtool.errors import BadInput

NAME = "dlg"
app = typer.Typer(name=NAME, help="Dialogs in the running server (dialog module).",
                  no_args_is_help=True)  # fmt: skip

COLUMNS = [
    Column("h_entry", "H_ENTRY", "right"), Column("h_id", "H_ID", "right"),
    Column("call_id", "CALL-ID"), Column("from_uri", "FROM"), Column("to_uri", "TO"),
    Column("state_name", "STATE"), Column("duration", justify="right"), Column("profiles"),
]  # fmt: skip


@app.command("list")
def list_() -> None:
    """Every dialog (dlg.list)."""
    from kamtool.core.runtime import dialogs

    with client() as rpc:
        rows = dialogs.list_dialogs(rpc)
    out().table(rows, COLUMNS, empty="no dialogs")


def _records(rows: list[dict[str, Any]]) -> None:
    o = out()
    if o.json_mode:
        o.json(rows)
        return
    for row in rows:
        o.record(row, title=f"dialog {row['h_entry']}:{row['h_id']}")


@app.command("show")
def show(
    call_id: Annotated[
        str | None,
        typer.Argument(metavar="[CALLID]", help="The Call-ID.", show_default=False),
    ] = None,
) -> None:
    """One dialog in full (dlg.dlg_list); without CALLID every dialog, as kamctl dialog show."""
    from kamtool.core.runtime import dialogs

    with client() as rpc:
        if call_id is None:
            rows = dialogs.list_dialogs(rpc)
            if not rows and not out().json_mode:
                out().info("no dialogs")
                return
            _records(rows)
            return
        _records(dialogs.show(rpc, call_id))


@app.command("end")
def end(
    h_entry: Annotated[int | None, typer.Argument(help="Hash entry (dlg list).")] = None,
    h_id: Annotated[int | None, typer.Argument(help="Hash id (dlg list).")] = None,
    call_id: Annotated[
        str | None, typer.Option("--callid", help="End the dialog(s) with this Call-ID.")
    ] = None,
) -> None:
    """End a dialog: the server sends BYE to both sides (dlg.end_dlg)."""
    from kamtool.core.runtime import dialogs

    if call_id is not None:
        if h_entry is not None:
            raise BadInput("give H_ENTRY H_ID or --callid, not both")
        with client() as rpc:
            rows = dialogs.end_by_call_id(rpc, call_id)
        ended = [f"{r['h_entry']}:{r['h_id']}" for r in rows]
        out().done(f"ended dialog {', '.join(ended)} ({call_id})",
                   {"ok": True, "ended": ended, "call_id": call_id})  # fmt: skip
        return
    if h_entry is None or h_id is None:
        raise BadInput("give H_ENTRY and H_ID (see `kamtool dlg list`), or --callid CALLID")
    with client() as rpc:
        dialogs.end(rpc, h_entry, h_id)
    out().done(f"ended dialog {h_entry}:{h_id}", {"ok": True, "ended": [f"{h_entry}:{h_id}"]})


@app.command("stats")
def stats() -> None:
    """Active dialogs by phase (dlg.stats_active)."""
    from kamtool.core.runtime import dialogs

    with client() as rpc:
        out().record(dialogs.stats(rpc))


@app.command("profile")
def profile(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    value: Annotated[
        str | None, typer.Argument(help="Only this value.", show_default=False)
    ] = None,
) -> None:
    """Size and dialogs of a dialog profile (dlg.profile_get_size + dlg.profile_list)."""
    from kamtool.core.runtime import dialogs

    with client() as rpc:
        result = dialogs.profile(rpc, name, value)
    o = out()
    if o.json_mode:
        o.json(result)
        return
    label = f"{name}={value}" if value is not None else name
    o.info(f"profile {label}: {result['size']} dialog(s)")
    o.table(result["dialogs"], COLUMNS, empty="no dialogs")
