"""``kamtool monitor``: the live dashboard, or one sample of everything with ``--once``.

Textual is imported inside the command body only, so ``kamtool --help`` stays fast and
``--once --json`` never loads it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kamtool.cli.context import current
from kamtool.errors import BadInput


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("monitor")(monitor)


def monitor(
    rpc: Annotated[
        str | None,
        typer.Option(
            "--rpc", help="JSON-RPC endpoint to watch (default: from settings).", show_default=False
        ),
    ] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between two polls.")] = 2.0,
    once: Annotated[
        bool, typer.Option("--once", help="Read everything once, print it and exit.")
    ] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="One sample as a JSON document (implies --once).")
    ] = False,
) -> None:
    """Watch the SIP server live: traffic, registrations, calls, dispatcher, bans, health."""
    from kamtool.tui.source import rpc_source

    ctx = current()
    if interval < 0.2:
        raise BadInput(f"--interval {interval}: use at least 0.2 seconds")
    settings = ctx.settings
    source = rpc_source(
        rpc or settings.rpc_url, timeout=settings.rpc_timeout, token=settings.rpc_token
    )
    if once or json_ or ctx.out.json_mode:  # a JSON document for scripts is one sample
        from kamtool.tui.report import once_report, render_text

        report = once_report(source)
        if json_ or ctx.out.json_mode:
            ctx.out.json(report)
        else:
            ctx.out.console.print(render_text(report), highlight=False, markup=False)
        return
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise BadInput(
            "the live monitor needs a terminal",
            hint="use `kamtool monitor --once --json` in scripts and pipes",
        )
    from kamtool.tui.app import MonitorApp

    MonitorApp(source=source, interval=interval).run()
