"""`kamtool acc ...`: call detail records (acc and missed_calls tables)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

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


# --------------------------------------------------------------------------- reports

SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Start: 24h, 7d, 30m (that long ago) or 2026-01-31[T08:00] "
                 "(default 24h).", show_default=False),
]  # fmt: skip
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="End, as --since (default now).", show_default=False),
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", help="At most this many rows.")]


def _report(
    fn: Callable[..., Any], *args: Any, since: str | None, until: str | None, **kw: Any
) -> tuple[Any, Any]:
    """Run ``fn(db, *args, range, **kw)`` on the configured database."""
    from kamtool.core.accreports import time_range

    r = time_range(since, until)
    with provision.database() as db:
        return r, fn(db, *args, r, **kw)


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="top-src (callers), top-dst (callees), top-odst "
                                        "(original callees) or top-srcip (source addresses).")],
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = 20,
) -> None:  # fmt: skip
    """The most active callers, callees or source addresses (calls = INVITE rows)."""
    from kamtool.cli.context import out
    from kamtool.core import accreports

    _, rows = _report(accreports.top, name, since=since, until=until, limit=limit)
    out().table(rows, empty="no calls in that time")


@app.command("method-stats")
def method_stats(since: SinceOption = None, until: UntilOption = None) -> None:
    """acc rows per method, and INVITEs per outcome (200, 404, 487, other)."""
    from kamtool.cli.context import out
    from kamtool.core import accreports

    r, stats = _report(accreports.method_stats, since=since, until=until)
    out().record({**stats, **r.to_dict()} if out().json_mode else stats)


@app.command("missed")
def missed(since: SinceOption = None, until: UntilOption = None, limit: LimitOption = 100) -> None:
    """Missed calls (busy, cancelled, unanswered) in the time range, oldest first."""
    from kamtool.cli.context import out
    from kamtool.core import accreports

    _, rows = _report(accreports.missed, since=since, until=until, limit=limit)
    out().table(rows, empty="no missed calls in that time")


@app.command("cdrs")
def cdrs(
    generate: Annotated[bool, typer.Option("--generate", help="First make the CDRs of the "
                                           "calls answered in the range (acc_cdrs).")] = False,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = 100,
) -> None:  # fmt: skip
    """Call detail records (acc_cdrs) that started in the time range."""
    from kamtool.cli.context import out
    from kamtool.core import accreports

    if generate:
        _, made = _report(accreports.generate_cdrs, since=since, until=until)
        if not out().json_mode:
            out().info(f"{len(made)} CDR(s) made from acc rows")
    _, rows = _report(accreports.list_cdrs, since=since, until=until, limit=limit)
    out().table(rows, empty="no CDRs in that time")


@app.command("struct-update")
def struct_update() -> None:
    """Add kamcli's extra acc/missed_calls columns (src_user, dst_user, src_ip ...) and the
    acc_cdrs columns kamtool's CDRs use (callid, tags, users)."""
    from kamtool.cli.context import out
    from kamtool.core import accreports

    with provision.database() as db:
        added = accreports.struct_update(db)
    out().done(f"added {len(added)} column(s)" + (f": {', '.join(added)}" if added else ""),
               {"ok": True, "added": added})  # fmt: skip


# kamctl's `acc initdb` (the same extra columns) and `acc showdb` (the acc rows)
app.command("initdb", hidden=True)(struct_update)
app.command("showdb", hidden=True)(show)
