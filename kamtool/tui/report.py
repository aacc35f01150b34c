"""One sample of everything, as the ``--once`` report (no textual needed)."""

from __future__ import annotations

from typing import Any

from kamtool.tui.health import Thresholds, evaluate, worst
from kamtool.tui.source import MonitorSource, take_sample
from kamtool.tui.traffic import totals


def once_report(source: MonitorSource, limits: Thresholds | None = None) -> dict[str, Any]:
    """Read the server once: the sample, its traffic totals and the health checks.

    Keys: target, taken_at, version, uptime, stats, transactions, contacts, dialogs,
    dispatcher, bans, pike_top, websockets (None: no WebSocket support), errors,
    traffic_totals, health, status.
    """
    sample = take_sample(source)
    checks = evaluate(
        target=sample.target,
        stats=sample.stats,
        transactions=sample.transactions,
        destinations=sample.dispatcher,
        limits=limits or Thresholds(),
    )
    report = sample.to_dict()
    report["traffic_totals"] = totals(sample.stats)
    report["health"] = [c.__dict__ for c in checks]
    report["status"] = worst(checks)
    return report


def render_text(report: dict[str, Any]) -> str:
    """A short plain-text summary of a report, for people without ``--json``."""
    lines = [
        f"{report['target']}: {report['version']}, up {report['uptime']} s, "
        f"health {report['status']}",
        f"contacts {len(report['contacts'])}, dialogs {len(report['dialogs'])}, "
        f"dispatcher destinations {len(report['dispatcher'])}, bans {len(report['bans'])}",
    ]
    if report.get("websockets") is not None:
        lines[-1] += f", WebSocket connections {len(report['websockets'])}"
    for check in report["health"]:
        lines.append(f"  {check['level']:<8} {check['name']:<14} {check['reason']}")
    for section, why in report["errors"].items():
        lines.append(f"  {section}: {why}")
    return "\n".join(lines)
