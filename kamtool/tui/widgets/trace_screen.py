"""The monitor's Trace screen (key ``t``): the live messages of its HEP feed."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Label

from kamtool.tui.widgets.trace_panel import TracePanel


class TraceScreen(Screen[None]):
    """Installed once by the app, so it keeps collecting while another screen shows."""

    DEFAULT_CSS = """
    TraceScreen #trace-title { height: 1; padding: 0 1; text-style: bold; }
    TraceScreen #trace-table { height: 1fr; }
    TraceScreen .note { padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, feed: Any = None) -> None:
        super().__init__()
        self.feed = feed

    def compose(self) -> ComposeResult:
        yield Label("Trace: SIP messages from HEP (Enter: call flow)", id="trace-title")
        yield TracePanel(self.feed, id="trace-panel")
        yield Footer()
