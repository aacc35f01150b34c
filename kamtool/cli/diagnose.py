"""``kamtool diagnose [AREA]``: OK / WARNING / CRITICAL per rule, Nagios-style exit status.

The rules and thresholds are the monitor's (``[monitor]`` section, ``--threshold``); the
exit status is the worst level: 0 OK, 1 WARNING, 2 CRITICAL, so the command can run from
cron or as a Nagios/Icinga check. As such a check wants, the first line on stdout is the
status and what is wrong, the table of checks follows, and a run that could not judge (an
unknown area or threshold, a bad ``[monitor]`` section, a failure of kamtool itself) says
``UNKNOWN: why`` and exits 3. (A flag Typer itself refuses still exits 2, before this
command runs.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from kamtool.cli.context import current
from kamtool.cli.output import Column

COLUMNS = [Column("level"), Column("area"), Column("rule"), Column("reason"),
           Column("command", "LOOK FURTHER")]  # fmt: skip
_SERVER_AREAS = {"sip", "load", "memory", "security"}


def _default_db_exists(settings: object) -> bool:
    """Whether the default SQLite file exists (no database configured: nothing to check)."""
    from kamtool.config import default_db_path

    return default_db_path().exists()


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("diagnose")(diagnose)


def diagnose(
    area: Annotated[
        str,
        typer.Argument(help="sip, memory, load, db, security, brief (problems only) or full."),
    ] = "full",
    threshold: Annotated[
        list[str] | None,
        typer.Option("--threshold", help="NAME=VALUE for this run, e.g. shm_warning=70% "
                     "(names as in the \\[monitor] section); repeat it.", show_default=False),
    ] = None,  # fmt: skip
    cert: Annotated[
        list[Path] | None,
        typer.Option("--cert", help="A PEM certificate whose expiry to check (repeat it; "
                     "default: \\[proxy] tls_certificate).", show_default=False),
    ] = None,  # fmt: skip
    sample: Annotated[
        float,
        typer.Option("--sample", help="Judge rates over this many seconds (two reads of the "
                     "statistics) instead of the totals since the server started.", min=0),
    ] = 0.0,  # fmt: skip
) -> None:
    """Check server, database and certificates; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    from kamtool.errors import KamtoolError

    ctx = current()
    try:
        doc, areas = _judge(ctx, area, threshold, cert, sample)
    except KamtoolError as exc:
        _unknown(ctx.out, exc.message, exc.to_dict())
    except Exception as exc:  # a bug: still an answer a monitoring system can read
        import traceback

        traceback.print_exc()
        _unknown(ctx.out, f"internal error: {exc!r}", {"code": "internal_error"})
    out = ctx.out
    if out.json_mode:
        out.json(doc)
        raise typer.Exit(doc["exit_status"])
    checks = doc["checks"]
    problems = [r for r in checks if r["level"] != "OK"]
    said = "; ".join(f"{r['rule']} ({r['area']}): {r['reason']}" for r in problems[:3])
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    head = f"{len(checks)} checks on {', '.join(sorted(areas))}"
    out.line(f"{doc['status']}: {said}{more}" if problems else f"{doc['status']}: {head}")
    rows = problems if area == "brief" else checks
    if rows:
        out.table(rows, COLUMNS)
    raise typer.Exit(doc["exit_status"])


UNKNOWN = 3  # Nagios: the check could not be made


def _unknown(out: Any, message: str, error: dict[str, Any]) -> NoReturn:
    if out.json_mode:
        out.json({"error": {**error, "message": message, "exit_status": UNKNOWN},
                  "status": "UNKNOWN", "exit_status": UNKNOWN})  # fmt: skip
    else:
        out.line(f"UNKNOWN: {message}")
    raise typer.Exit(UNKNOWN)


def _judge(
    ctx: Any, area: str, threshold: list[str] | None, cert: list[Path] | None, sample: float
) -> tuple[dict[str, Any], set[str]]:
    """The report of ``kamtool diagnose`` and the areas it covers."""
    from kamtool.cli.monitor import _monitor_settings
    from kamtool.core import diagnose as dg

    s = ctx.settings
    areas = set(dg.areas_for(area))
    limits, _ = _monitor_settings(s.section("monitor"), threshold or [], None)
    facts = dg.Facts(target="")
    from kamtool.errors import KamtoolError
    from kamtool.rpc.client import client_from_settings

    try:
        rpc = client_from_settings(s)
    except KamtoolError as exc:  # a malformed endpoint URL
        rpc, facts.connection_error = None, exc.message
    try:
        if areas & _SERVER_AREAS:
            if rpc is None:
                facts.target = s.rpc_url or "JSON-RPC"
            else:
                try:
                    dg.read_server(rpc, rpc.url, facts, sample_seconds=sample)
                finally:
                    facts.target = rpc.url
        if "db" in areas and (s.db_url or _default_db_exists(s)):
            dg.read_database(s.effective_db_url, facts, timeout=limits.db_latency_critical)
            if facts.db_error is None:
                dg.read_trusted_patterns(s.effective_db_url, facts)
            if facts.db_error is None and not facts.connection_error:
                dg.read_reloads(s.effective_db_url, rpc, facts)
    finally:
        if rpc is not None:
            rpc.close()
    if "security" in areas:
        configured = s.section("proxy").get("tls_certificate")
        paths = [str(p) for p in cert] if cert else ([str(configured)] if configured else [])
        dg.read_certificates(paths, facts)
    return dg.report(facts, limits, area), areas
