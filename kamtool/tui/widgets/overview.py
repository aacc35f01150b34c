"""The first tab: what an operator looks at first, on one screen.

Left: health, the calls up now, the newest registrations. Right: traffic, the busiest
sources and the bans, totals since the server started, recent events (errors, bans,
reloads). On a wide terminal the two
columns stand side by side and share the height; on a narrow one they stack and scroll
(``monitor.tcss``). Every box here is read-only; the numbered tabs act.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll

from kamtool.tui.events import EventLog
from kamtool.tui.widgets.events_panel import EventsPanel
from kamtool.tui.widgets.glance import BansGlance, CallsGlance, RegistrationsGlance, SourcesGlance
from kamtool.tui.widgets.health_panel import HealthPanel
from kamtool.tui.widgets.since_start import SinceStart
from kamtool.tui.widgets.traffic_panel import TrafficPanel

TITLES = {
    "#health": "Health",
    "#calls-glance": "Calls now",
    "#regs-glance": "Registrations",
    "#traffic": "Traffic (messages per second)",
    "#sources-glance": "Busiest sources (pike)",
    "#bans-glance": "Bans",
    "#since-start": "Since the server started",
    "#events": "Recent events",
}


class OverviewPane(VerticalScroll):
    """The overview's boxes; the app feeds them (``calls``, ``registrations`` ...)."""

    def __init__(self, log: EventLog, **kwargs) -> None:
        super().__init__(**kwargs)
        self.event_log = log

    def compose(self) -> ComposeResult:
        # Kept rather than queried: a timer may tick while the app tears the DOM down.
        self.calls = CallsGlance(id="calls-glance", classes="ov-box")
        self.registrations = RegistrationsGlance(id="regs-glance", classes="ov-box")
        self.sources = SourcesGlance(id="sources-glance", classes="ov-box")
        self.bans = BansGlance(id="bans-glance", classes="ov-box")
        self.events = EventsPanel(self.event_log, id="events", classes="ov-box")
        self.since_start = SinceStart(id="since-start", classes="ov-box")
        with Vertical(id="ov-left", classes="ov-column"):
            yield HealthPanel(id="health")  # problems first
            yield self.calls
            yield self.registrations
        with Vertical(id="ov-right", classes="ov-column"):
            yield TrafficPanel(id="traffic")
            with Horizontal(id="ov-security"):
                yield self.sources
                yield self.bans
            yield self.since_start
            yield self.events

    def on_mount(self) -> None:
        for selector, title in TITLES.items():
            self.query_one(selector).border_title = title

    def tick(self, now: float) -> None:
        """Once a second: durations, countdowns and ages move on."""
        for box in (self.calls, self.registrations, self.bans, self.events):
            box.tick(now)
