"""`kamtool acc ...`: call detail records (acc and missed_calls tables)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli import provision
from kamtool.cli.output import Column

NAME = "acc"
app = typer.Typer(name=NAME, help="Call detail records (acc, missed_calls tables).",
                  no_args_is_help=True)  # fmt: skip

COLUMNS = [
    Column("id", justify="right"), Column("time"), Column("method"),
    Column("sip_code", "CODE", "right"), Column("sip_reason", "REASON"),
    Column("callid", "CALL-ID"), Column("from_tag"), Column("to_tag"),
]  # fmt: skip


@app.command("show")
def show(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many of the newest.")] = 20,
    missed: Annotated[
        bool, typer.Option("--missed", help="Missed calls (missed_calls) instead of acc.")
    ] = False,
) -> None:
    """The newest CDRs, oldest first."""
    from kamtool.core import cdrs

    provision.listing(
        cdrs.show, limit, missed, columns=COLUMNS, empty="no missed calls" if missed else "no CDRs"
    )
