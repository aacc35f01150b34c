"""Statistics: ``stats.get_statistics``, ``stats.reset_statistics`` and rates between samples."""

from __future__ import annotations

import difflib
from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import KamtoolError, NotFound

# groups Kamailio users type for another one: tm's counters live in tmx (tm: is empty)
GROUP_ALIASES = {"tm": "tmx"}


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


def server_selectors(selectors: list[str]) -> list[str]:
    """The selectors in the forms Kamailio's ``stats.get_statistics`` and
    ``stats.reset_statistics`` know: ``all``, ``group:`` or a bare name.

    Kamailio looks a name up without its group, so ``tmx:2xx_transactions`` matches
    nothing there (it answers ``[]``, and a reset of it does nothing): the name goes alone
    and :func:`get` keeps only the rows of the group asked for.
    """
    out = []
    for sel in selectors:
        group, sep, name = sel.partition(":")
        out.append(name if sep and name and group else sel)
    return list(dict.fromkeys(out))


def get(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Statistics matching ``selectors`` (``all``, ``group:``, ``group:name`` or ``name``)
    as rows."""
    sel = normalize_selectors(selectors)
    rows = stat_rows(rpc.call("stats.get_statistics", *server_selectors(sel)))
    if sel == server_selectors(sel):
        return rows
    return [r for r in rows if any(matches(s, r) for s in sel)]


def matches(selector: str, row: dict[str, Any]) -> bool:
    """Whether ``row`` is one of the statistics ``selector`` (``all``, ``grp:``,
    ``grp:name`` or ``name``) names."""
    if selector == "all":
        return True
    group, sep, name = selector.partition(":")
    if not sep:
        return row["name"] == selector
    return row["group"] == group and (not name or row["name"] == name)


def get_found(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """:func:`get`, but a selector that names nothing raises :class:`NotFound` with a
    suggestion (Kamailio answers ``[]`` for an unknown name; ``tm:`` is empty because
    tm's counters are in ``tmx:``)."""
    sel = normalize_selectors(selectors)
    rows = get(rpc, sel)
    missing = [s for s in sel if s != "all" and not any(matches(s, r) for r in rows)]
    if not missing:
        return rows
    known = get(rpc, ["all"])
    # kamctl's form: `kamctl stats usrloc` asks for the group usrloc: (no statistic has
    # a group's name, so a bare word naming a group means the group)
    groups = {r["group"] for r in known}
    as_group = [s for s in missing if ":" not in s and s in groups]
    if as_group:
        rows += [r for r in known if r["group"] in as_group]
        missing = [s for s in missing if s not in as_group]
        if not missing:
            return rows
    hints = [h for h in (suggest(s, known) for s in missing) if h]
    raise NotFound(
        "no such statistic: " + ", ".join(missing),
        hint="; ".join(hints) or "kamtool stats lists them all",
        selectors=missing,
    )


def resolve(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The selectors with kamctl's bare group names (``usrloc``) as groups (``usrloc:``),
    for commands that sample again and again (``stats --watch``)."""
    sel = normalize_selectors(selectors)
    if all(":" in s or s == "all" for s in sel):
        return sel
    known = get(rpc, ["all"])
    groups, names = {r["group"] for r in known}, {r["name"] for r in known}
    return [f"{s}:" if ":" not in s and s in groups and s not in names else s for s in sel]


def suggest(selector: str, known: list[dict[str, Any]]) -> str | None:
    """A "did you mean" for a selector that matched nothing, from the server's own names."""
    groups = sorted({r["group"] for r in known})
    group, sep, name = selector.partition(":")
    if sep and not name:
        alias = GROUP_ALIASES.get(group)
        if alias in groups:
            return f"the {group} counters are in the {alias}: group: kamtool stats {alias}:"
        close = difflib.get_close_matches(group, groups, n=1)
        return f"did you mean {close[0]}:?" if close else None
    if sep:
        if group in GROUP_ALIASES and any(
            r["group"] == GROUP_ALIASES[group] and r["name"] == name for r in known
        ):
            return f"did you mean {GROUP_ALIASES[group]}:{name}?"
        names = [f"{r['group']}:{r['name']}" for r in known]
    else:
        names = sorted({r["name"] for r in known})
    close = difflib.get_close_matches(selector, names, n=1)
    return f"did you mean {close[0]}?" if close else None


def reset(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> None:
    """Reset the matching statistics to zero (a ``group:name`` resets that name: Kamailio
    resets by name)."""
    rpc.call("stats.reset_statistics", *server_selectors(normalize_selectors(selectors)))


def sample(rpc: Rpc, selectors: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"group:name": value}`` for rate computations."""
    return {f"{r['group']}:{r['name']}": r["value"] for r in get(rpc, selectors)}


def numbers(rpc: Rpc) -> dict[str, float]:
    """Every numeric statistic, ``{"group:name": value}``, for the health rules, with
    sl's reply counters read live from ``sl.stats``.

    Kamailio 5.6's ``sl:*_replies`` in ``stats.get_statistics`` lag behind: a read right
    after 25 REGISTERs were challenged showed no ``sl:401_replies`` (and ``sl:200_replies``
    stood still while ``sl.stats`` counted every JSON-RPC answer). ``sl.stats`` sums the
    processes' counters when asked; a server without it keeps the other values.
    """
    values = {k: float(v) for k, v in sample(rpc, ["all"]).items()
              if isinstance(v, int | float) and not isinstance(v, bool)}  # fmt: skip
    if not any(k.startswith("sl:") for k in values):
        return values
    try:
        live = rpc.call("sl.stats")
    except KamtoolError:
        return values
    if isinstance(live, dict):
        for code, n in live.items():
            key = f"sl:{code}_replies"
            if key in values and isinstance(n, int | float) and not isinstance(n, bool):
                values[key] = float(n)
    return values


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
