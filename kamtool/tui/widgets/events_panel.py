"""The overview's log: the last reload seen, then recent errors, bans and changes."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from kamtool.tui.events import CRITICAL, OK, WARNING, EventLog
from kamtool.tui.fmt import duration

MARK = {OK: ("●", "green"), WARNING: ("▲", "yellow"), CRITICAL: ("■", "bold red")}


class EventsPanel(Widget):
    """Renders an :class:`~kamtool.tui.events.EventLog`, newest first, ages as of ``now``."""

    DEFAULT_CSS = "EventsPanel { text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, log: EventLog, **kwargs) -> None:
        super().__init__(**kwargs)
        self.event_log = log
        self.now = 0.0
        self.started = 0.0  # when the monitor started watching

    def tick(self, now: float) -> None:
        self.now = now
        self.refresh()

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        """The reload line and every event (``max-height`` in the CSS cuts)."""
        return 1 + max(1, len(self.event_log.events))

    def _ago(self, at: float) -> str:
        return f"{duration(self.now - at)} ago"

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        reload = self.event_log.last_reload
        text.append("Last reload ", style="bold")
        if reload is None:
            text.append("not known yet", style="dim")
        elif reload.seen:
            text.append(f"{self._ago(reload.at)}: {reload.text}")
        else:
            text.append(f"none seen; the server started {self._ago(reload.at)}", style="dim")
        events = self.event_log.events
        if not events:
            since = self._ago(self.started)
            text.append(f"\nno errors, bans, reloads or health changes since {since}",
                        style="dim italic")  # fmt: skip
            return text
        room = max(1, self.content_size.height - 1)
        shown = events if len(events) <= room else events[: max(0, room - 1)]
        width = max(len(self._ago(e.at)) for e in shown) if shown else 0
        for event in shown:
            mark, style = MARK.get(event.level, ("·", ""))
            text.append(f"\n{self._ago(event.at):>{width}} ", style="dim")
            text.append(mark, style=style)
            text.append(f" {event.text}")
            if event.count > 1:
                text.append(f" ×{event.count}", style="bold")
        if len(shown) < len(events):
            text.append(f"\n… {len(events) - len(shown)} older", style="dim")
        return text
