"""``kamtool demo``: the proxy, two users, two simulated phones and a call, then the monitor.

The work is :func:`kamtool.ua.demo.run_demo`'s; this module chooses between the monitor
(a terminal) and a text account (``--no-monitor``, ``--json``) and renders it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kamtool.cli.context import out
from kamtool.errors import BadInput

if TYPE_CHECKING:
    from kamtool.tui.app import MonitorApp
    from kamtool.ua.demo import DemoLab, Outcome


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("demo")(demo)


def demo(
    no_monitor: Annotated[
        bool,
        typer.Option("--no-monitor", help="Print what happened as text instead of the monitor."),
    ] = False,
    hold: Annotated[
        float,
        typer.Option(
            "--hold", help="Seconds the call stays up with --no-monitor.", min=0, metavar="SECONDS"
        ),
    ] = 1.0,
) -> None:
    """Try kamtool with nothing else installed: proxy, two phones and a call, in the monitor.

    Starts kamtool's proxy on a temporary SQLite database on free loopback
    ports, adds the users 1001 and 1002, registers two simulated phones
    (kamtool's own SIP code), calls 1002 from 1001 (digest 407, 180, 200,
    ACK) and opens the monitor on it. Quitting hangs up (BYE), stops the
    proxy and removes everything.
    """
    from kamtool.ua.demo import run_demo

    output = out()
    text = no_monitor or output.json_mode
    if not text and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise BadInput("the monitor needs a terminal", hint="use `kamtool demo --no-monitor`")
    outcome = run_demo(hold, monitor=None if text else _watch, log_level="warning")
    if output.json_mode:
        output.json(outcome.to_dict())
        return
    _print(outcome)


def monitor_app(lab: DemoLab, *, interval: float = 1.0) -> MonitorApp:
    """The monitor on the demo's proxy, with a word on what is going on."""
    from kamtool.tui.app import MonitorApp
    from kamtool.tui.source import rpc_source

    greeting = (
        "kamtool demo: 1001 is calling 1002 through kamtool's proxy. "
        "3 shows the call (e ends it), q hangs up, stops the proxy and cleans up."
    )
    return MonitorApp(rpc_source(lab.rpc_url, timeout=5.0), interval=interval, greeting=greeting)


def _watch(lab: DemoLab) -> None:
    monitor_app(lab).run()


def _print(outcome: Outcome) -> None:
    """The account of ``--no-monitor``: set-up, the messages, the outcome, the clean-up."""
    write = sys.stdout.write
    write(f"kamtool demo: kamtool's proxy on {outcome.proxy} (JSON-RPC {outcome.rpc_url})\n")
    write(f"database and runtime files in {outcome.directory} (temporary)\n")
    write(f"registered: {', '.join(outcome.registered) or 'nobody'}\n\n")
    # the keepalives sent while the monitor was open are not the story
    keepalive = [r for r in outcome.trace if "OPTIONS" in r["message"].split(" ", 1)[0]
                 or r["message"].endswith("(OPTIONS)")]  # fmt: skip
    rows = [r for r in outcome.trace if r not in keepalive]
    width = max((len(r["from"]) + len(r["to"]) for r in rows), default=10) + 4
    for row in rows:
        path = f"{row['from']} → {row['to']}"
        write(f"  {row['t']:7.3f}  {path:<{width}} {row['message']}\n")
    if keepalive:
        write(f"  (and {len(keepalive)} OPTIONS keepalive messages)\n")
    write("\n")
    write(_summary(outcome) + "\n")
    for row in outcome.cdrs:
        write(f"accounted (acc): {row['method']} {row['sip_code']} {row['sip_reason']}\n")
    write(f"cleaned up: proxy stopped, {outcome.directory} removed\n")


def _summary(o: Outcome) -> str:
    provisional = ", ".join(str(s) for s in dict.fromkeys(o.provisional))
    parts: list[Any] = [f"call 1001 → 1002: {o.call_status or 'no answer'}"]
    if o.challenged:
        parts.append(f"after a {o.challenged} digest challenge")
    if provisional:
        parts.append(f"(provisional {provisional})")
    line = " ".join(str(p) for p in parts)
    if o.server_dialogs:
        line += f"; the proxy's dialog: {', '.join(o.server_dialogs)}"
    if o.bye_status is not None:
        line += f"; BYE: {o.bye_status}"
    elif o.ended_by == "them":
        line += "; ended from the monitor (BYE from the proxy)"
    return line
