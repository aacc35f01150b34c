"""What changed between two polls, as a short log: errors, bans, reloads, health, restarts.

Kamailio keeps no such log that RPC could read, so the monitor writes its own from the
samples it takes: error counters that grew, addresses banned or released, the dispatcher
list changing (a reload), destinations going up or down, health checks changing level,
the server restarting or going silent. The first sample of each kind is the baseline:
only what changes after it is an event (a problem already there shows in Health).

Pure: no textual, no clock (every call says when). An event that repeats within
``merge_within`` seconds (errors) is counted on the newest entry instead of filling the log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kamtool.tui.health import CRITICAL, OK, WARNING, Check
from kamtool.tui.source import Ban, Destination
from kamtool.tui.traffic import reply_class_total

# error counters worth an event: name shown -> counters summed (replies by class via tm/sl)
ERROR_COUNTERS: dict[str, tuple[str, ...]] = {
    "failed forwards": ("core:err_requests", "core:err_replies"),
    "dropped messages": ("core:drop_requests", "core:drop_replies"),
}
ERROR_CLASSES = {"5xx replies": "5xx", "6xx replies": "6xx"}
DOWN_STATES = ("inactive", "disabled")


@dataclass
class Event:
    """One line of the log; ``count`` occurrences, the newest at ``at``."""

    kind: str  # what merges: "errors:5xx replies", "ban:10.0.0.1", "health:dispatcher" ...
    level: str  # OK (good news), WARNING, CRITICAL: health's levels
    text: str
    at: float
    first: float
    count: int = 1


@dataclass(frozen=True)
class Reload:
    """The last reload the monitor saw (or the server's start, the first load of all)."""

    at: float
    text: str
    seen: bool  # False: no reload seen, ``at`` is when the server started


# the order of a poll round's groups (see EventLog.events), by the kind's prefix
_ROUND = {"counters": 0, "errors": 0, "restart": 0, "reload": 1, "dst": 1, "ban": 2}


def _rank(event: Event) -> int:
    return _ROUND.get(event.kind.split(":", 1)[0], 3)


class EventLog:
    """Feed it samples as they come (:meth:`stats`, :meth:`bans`, ...); read :attr:`events`
    (newest first) and :attr:`last_reload`."""

    def __init__(self, keep: int = 50, merge_within: float = 30.0) -> None:
        self._events: deque[Event] = deque(maxlen=keep)
        self.merge_within = merge_within
        self.last_reload: Reload | None = None
        self._errors: dict[str, float] | None = None
        self._bans: set[str] | None = None
        self._destinations: dict[str, Destination] | None = None
        self._uptime: tuple[float, int] | None = None
        self._levels: dict[str, str] | None = None
        self._offline = False

    @property
    def events(self) -> list[Event]:
        """Newest first. The groups of one poll round arrive in any order (each is its
        own read): events of the same moment are listed in the order of the round
        (statistics, dispatcher, bans, then health), not as the reads happened to end."""
        ordered = sorted(enumerate(self._events), key=lambda e: (e[1].at, _rank(e[1]), e[0]))
        return [event for _, event in reversed(ordered)]

    def add(self, kind: str, level: str, text: str, at: float, count: int = 1,
            *, merge: bool = False) -> None:  # fmt: skip
        """Log an event; with ``merge``, count it on the newest one of the same kind
        instead when that one is recent (a burst of errors is one line)."""
        for event in reversed(self._events) if merge else ():
            if event.kind == kind and at - event.at <= self.merge_within:
                event.count += count
                event.at, event.text, event.level = at, text, level
                return
            if at - event.at > self.merge_within:
                break
        self._events.append(Event(kind, level, text, at, at, count))

    # ------------------------------------------------------------------ samples

    def stats(self, at: float, stats: Mapping[str, float]) -> None:
        """Error counters that grew since the previous statistics sample."""
        now = {name: float(sum(stats.get(c, 0) for c in counters))
               for name, counters in ERROR_COUNTERS.items()}  # fmt: skip
        now.update({name: reply_class_total(stats, cls) for name, cls in ERROR_CLASSES.items()})
        before, self._errors = self._errors, now
        if before is None:
            return
        if any(now[k] < before[k] for k in now):
            self.add("counters", WARNING, "statistics went back: reset, or a restart", at)
            return
        for name, value in now.items():
            grew = int(value - before[name])
            if grew > 0:
                self.add(f"errors:{name}", WARNING, name, at, count=grew, merge=True)

    def bans(self, at: float, bans: Sequence[Ban]) -> None:
        """Addresses banned (htable ipban) or released since the previous sample."""
        now = {b.address for b in bans}
        before, self._bans = self._bans, now
        if before is None:
            return
        for address in sorted(now - before):
            self.add(f"ban:{address}", CRITICAL, f"banned {address}", at)
        for address in sorted(before - now):
            self.add(f"ban:{address}", OK, f"ban of {address} lifted", at)

    def dispatcher(self, at: float, destinations: Sequence[Destination]) -> None:
        """Destinations added or removed (a reload) and state changes."""
        now = {d.key: d for d in destinations}
        before, self._destinations = self._destinations, now
        if before is None:
            return
        added, removed = now.keys() - before.keys(), before.keys() - now.keys()
        if added or removed:
            text = (f"dispatcher reloaded: {len(before)} → {len(now)} destinations"
                    f" (+{len(added)} −{len(removed)})")  # fmt: skip
            self.add("reload:dispatcher", OK, text, at)
            self.last_reload = Reload(at, text, seen=True)
        for key in sorted(now.keys() & before.keys()):
            old, new = before[key], now[key]
            if old.state != new.state:
                level = WARNING if new.state in DOWN_STATES else OK
                self.add(f"dst:{key}", level,
                         f"{new.uri} (set {new.set_id}) {old.state} → {new.state}", at)  # fmt: skip

    def uptime(self, at: float, uptime: int) -> None:
        """A restart: the uptime went back. The server's start is the first "reload"."""
        before, self._uptime = self._uptime, (at, uptime)
        if before is not None and uptime + 5 < before[1] + (at - before[0]):
            self.add("restart", WARNING, f"server restarted (up {uptime} s)", at)
            self.last_reload = Reload(at - uptime, "server restarted", seen=True)
        elif self.last_reload is None:
            self.last_reload = Reload(at - uptime, "server started", seen=False)

    def connection(self, at: float, error: str | None) -> None:
        """The server going silent, and answering again."""
        if error and not self._offline:
            self.add("connection", CRITICAL, f"no answer: {error}", at)
        elif not error and self._offline:
            self.add("connection", OK, "the server answers again", at)
        self._offline = bool(error)

    def health(self, at: float, checks: Sequence[Check]) -> None:
        """Checks changing level (the connection has its own events). The first
        evaluation logs what is wrong already."""
        now = {c.name: c.level for c in checks if c.name != "connection"}
        before, self._levels = self._levels, now
        for check in checks:
            if check.name == "connection":
                continue
            old = (before or {}).get(check.name, OK)
            if check.level != old:
                word = "back to OK" if check.level == OK else check.level
                self.add(f"health:{check.name}", check.level,
                         f"{check.name} {word}: {check.reason}", at)  # fmt: skip


__all__ = ["CRITICAL", "OK", "WARNING", "Event", "EventLog", "Reload"]
