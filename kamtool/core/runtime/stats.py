"""Statistics: ``stats.get_statistics``, ``stats.reset_statistics`` and rates between samples."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_line(line: str) -> dict[str, Any] | None:
    """``"core:rcv_requests = 84"`` -> ``{"group": "core", "name": "rcv_requests",
    "value": 84}``."""
    head, sep, value = line.partition(" = ")
    if not sep:
        return None
    group, sep, name = head.partition(":")
    if not sep:
        group, name = "", head
    return {"group": group.strip(), "name": name.strip(), "value": _number(value.strip())}


def stat_rows(answer: Any) -> list[dict[str, Any]]:
    """A ``stats.get_statistics`` answer (array of ``"group:name = value"``) as rows.

    Also takes a ``stats.fetch``/``fetchn`` object (``{"group.name": value}``).
    """
    rows = []
    if isinstance(answer, dict):
        for key, value in answer.items():
            group, _, name = str(key).partition(".")
            rows.append({"group": group, "name": name, "value": _number(str(value))})
        return rows
    for line in answer or []:
        row = parse_line(str(line))
        if row is not None:
            rows.append(row)
    return rows


def normalize_selectors(selectors: list[str] | tuple[str, ...]) -> list[str]:
    """Selectors as Kamailio takes them: ``all``, ``group:`` or a name (default ``all``)."""
    return [s.strip() for s in selectors if s.strip()] or ["all"]


def get(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Statistics matching ``selectors`` as rows."""
    return stat_rows(rpc.call("stats.get_statistics", *normalize_selectors(selectors)))


def reset(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> None:
    """Reset the matching statistics to zero."""
    rpc.call("stats.reset_statistics", *normalize_selectors(selectors))


def sample(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"group:name": value}`` for rate computations."""
    return {f"{r['group']}:{r['name']}": r["value"] for r in get(rpc, selectors)}


def rates(before: dict[str, Any], after: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    """Rows with each statistic's value and its change per second between two samples.

    Gauges (values that went down, or non-numbers) get a rate too; it is just the change.
    """
    rows = []
    for key, value in after.items():
        group, _, name = key.partition(":")
        old = before.get(key)
        rate = None
        if seconds > 0 and isinstance(value, (int, float)) and isinstance(old, (int, float)):
            rate = round((value - old) / seconds, 3)
        rows.append({"group": group, "name": name, "value": value, "rate": rate})
    return rows
