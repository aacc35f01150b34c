"""``kamtool monitor``: the live dashboard, or one sample of everything with ``--once``.

Textual is imported inside the command body only, so ``kamtool --help`` stays fast and
``--once --json`` never loads it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kamtool.cli.context import current
from kamtool.errors import BadInput, ConfigError

if TYPE_CHECKING:
    from kamtool.tui.health import Thresholds


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
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            help="Seconds between two polls (\\[monitor] interval, else 2).",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="NAME=VALUE: a health threshold for this run, e.g. shm_warning=70% "
            "(names as in the \\[monitor] section); repeat it.",
            show_default=False,
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Read everything once, print it and exit (0, as kamctl monitor, whatever "
            "the health; `kamtool diagnose` exits with it).",
        ),
    ] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="One sample as a JSON document (implies --once).")
    ] = False,
    hep: Annotated[
        str | None,
        typer.Option("--hep", help="Collect HEP on udp:IP:PORT for the Trace screen (t) and "
                     "the calls' ladders (Enter); tracing is switched on meanwhile.",
                     show_default=False),
    ] = None,  # fmt: skip
) -> None:
    """Watch the SIP server live: traffic, registrations, calls, dispatcher, bans, health."""
    from kamtool.tui.source import rpc_source

    ctx = current()
    settings = ctx.settings
    limits, interval = _monitor_settings(
        settings.section("monitor"), threshold or [], interval, _kamctl_period(settings)
    )
    source = rpc_source(
        rpc or settings.rpc_url, timeout=settings.rpc_timeout, token=settings.rpc_token
    )
    if once or json_ or ctx.out.json_mode:  # a JSON document for scripts is one sample
        from kamtool.tui.report import once_report, render_text

        report = once_report(source, limits)
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

    feed = None
    if hep:
        from kamtool.core.trace import parse_listen
        from kamtool.tui.hep_feed import HepFeed

        feed = HepFeed(*parse_listen(hep), rpc=source)
        feed.start()
    try:
        MonitorApp(source=source, interval=interval, limits=limits, hep=feed).run()
    finally:
        if feed is not None:
            feed.stop()


def _kamctl_period(settings: Any) -> float | None:
    """kamctl's WATCH_PERIOD (kamctl monitor's refresh) when a kamctlrc set it."""
    return settings.watch_period if "watch_period" in settings.origins else None


def _monitor_settings(
    section: Mapping[str, Any],
    flags: list[str],
    interval: float | None,
    fallback: float | None = None,
) -> tuple[Thresholds, float]:
    """The health thresholds (defaults, then the [monitor] section, then --threshold
    flags) and the poll interval (--interval, else [monitor] interval, else ``fallback``
    (kamctlrc WATCH_PERIOD), else 2 s)."""
    from kamtool.tui.health import Thresholds

    values = dict(section)
    configured = values.pop("interval", 2.0 if fallback is None else fallback)
    if interval is None:
        if isinstance(configured, bool) or not isinstance(configured, int | float):
            raise ConfigError(f"[monitor] interval = {configured!r} is not a number")
        interval = float(configured)
    if interval < 0.2:
        raise BadInput(f"interval {interval}: use at least 0.2 seconds")
    given: dict[str, str] = {}
    for item in flags:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--threshold {item!r}: expected NAME=VALUE, e.g. shm_warning=0.7")
        given[name.strip()] = value
    limits = Thresholds().with_values(values, where="[monitor]")
    try:
        return limits.with_values(given, where="--threshold"), interval
    except ConfigError as exc:  # a bad flag is a usage error, not a bad file
        raise BadInput(exc.message) from None
