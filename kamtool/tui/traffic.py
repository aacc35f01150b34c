"""Per-second message rates from Kamailio's ever-growing statistics counters.

Each sample of ``stats.get_statistics all`` is reduced to a few totals; two samples give a
rate per series. A counter that goes down (server restarted, stats reset) starts a new
baseline instead of producing a negative rate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from kamtool.core.health import reply_class_total

CLASSES = ("2xx", "3xx", "4xx", "5xx", "6xx")


@dataclass(frozen=True)
class Series:
    """A traffic series: ``name`` shown to people, the stats counters summed into it."""

    name: str
    counters: tuple[str, ...]


SERIES: tuple[Series, ...] = (
    Series("requests", ("core:rcv_requests",)),
    Series("replies", ("core:rcv_replies",)),
    Series("forwarded", ("core:fwd_requests", "core:fwd_replies")),
    Series("dropped", ("core:drop_requests", "core:drop_replies")),
    Series("errors", ("core:err_requests", "core:err_replies")),
)


def totals(stats: Mapping[str, float]) -> dict[str, float]:
    """The counter totals behind every traffic series, keyed by series name."""
    out = {s.name: float(sum(stats.get(c, 0) for c in s.counters)) for s in SERIES}
    for cls in CLASSES:
        out[cls] = reply_class_total(stats, cls)
    return out


SERIES_NAMES: tuple[str, ...] = tuple(s.name for s in SERIES) + CLASSES


class Traffic:
    """Keeps the last ``keep`` rates (messages per second) of every series."""

    def __init__(self, keep: int = 120):
        self.keep = keep
        self.rates: dict[str, deque[float]] = {n: deque(maxlen=keep) for n in SERIES_NAMES}
        self._last: tuple[float, dict[str, float]] | None = None

    def add(self, at: float, stats: Mapping[str, float]) -> None:
        """Feed one statistics sample taken at time ``at`` (seconds)."""
        now = totals(stats)
        last, self._last = self._last, (at, now)
        if last is None:
            return
        then, before = last
        elapsed = at - then
        if elapsed <= 0:
            return
        if any(now[n] < before[n] for n in SERIES_NAMES):
            return  # counters went back: a restart or a reset; this sample is the new base
        for name in SERIES_NAMES:
            self.rates[name].append((now[name] - before[name]) / elapsed)

    def latest(self, name: str) -> float | None:
        series = self.rates[name]
        return series[-1] if series else None

    def window(self, name: str) -> list[float]:
        return list(self.rates[name])


def _count(stats: Mapping[str, float], name: str) -> int | None:
    value = stats.get(name)
    return None if value is None else int(value)


def since_start(stats: Mapping[str, float]) -> list[tuple[str, str]]:
    """The counters an operator reads as totals, as (label, text) lines; a line whose
    counters this server does not publish is left out."""
    lines: list[tuple[str, str]] = []
    accepted, rejected = (_count(stats, f"registrar:{k}_regs") for k in ("accepted", "rejected"))
    if accepted is not None:
        lines.append(("Registrations", f"{accepted} accepted · {rejected or 0} rejected"))
    processed = _count(stats, "dialog:processed_dialogs")
    if processed is not None:
        parts = [f"{processed} calls"] + [
            f"{_count(stats, f'dialog:{k}_dialogs') or 0} {k}" for k in ("failed", "expired")
        ]
        lines.append(("Dialogs", " · ".join(parts)))
    replies = [f"{cls} {int(reply_class_total(stats, cls))}" for cls in CLASSES]
    lines.append(("Final replies", " · ".join(replies)))
    return lines
