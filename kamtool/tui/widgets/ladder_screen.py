"""A call's ladder diagram, full screen: up/down select a message, its text below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from kamtool.core.trace import TracedMessage
from kamtool.tui.ladder import render


class LadderScreen(Screen[None]):
    """sngrep's call flow for one Call-ID (``escape`` goes back)."""

    DEFAULT_CSS = """
    LadderScreen #ladder-title { height: 1; padding: 0 1; text-style: bold; }
    LadderScreen #ladder-box { height: 2fr; border: round $primary; }
    LadderScreen #ladder-header { height: 1; text-style: bold; }
    LadderScreen #ladder-body { height: 1fr; }
    LadderScreen #ladder-message { height: 1fr; border: round $secondary; }
    """
    BINDINGS: ClassVar = [
        Binding("escape", "app.pop_screen", "Back"),
        # priority: the scrolling containers would take the arrows for themselves
        Binding("up", "move(-1)", "Previous", show=False, priority=True),
        Binding("down", "move(1)", "Next", show=False, priority=True),
        Binding("home", "move(-100000)", "First", show=False, priority=True),
        Binding("end", "move(100000)", "Last", show=False, priority=True),
    ]

    def __init__(self, call_id: str, messages: Sequence[TracedMessage]) -> None:
        super().__init__()
        self.call_id = call_id
        self.messages = list(messages)
        self.selected = 0

    def compose(self) -> ComposeResult:
        count = len(self.messages)
        yield Label(f"Call flow  Call-ID {self.call_id}  ({count} messages)", id="ladder-title")
        with Vertical(id="ladder-box"):
            yield Static(id="ladder-header", markup=False)
            with VerticalScroll(id="ladder-body"):
                yield Static(id="ladder")
        with VerticalScroll(id="ladder-message"):
            yield Static(id="ladder-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ladder-box").border_title = "Messages (up/down)"
        self.draw()

    def on_resize(self) -> None:
        self.draw()

    def action_move(self, step: int) -> None:
        if self.messages:
            self.selected = max(0, min(len(self.messages) - 1, self.selected + step))
            self.draw()

    def draw(self) -> None:
        body = self.query_one("#ladder-body")
        width = max(body.size.width - 2, 40) if body.size.width else max(self.size.width - 4, 40)
        text = Text()
        if not self.messages:
            text.append("no messages of this call were collected (is HEP coming in?)")
        else:
            ladder = render(self.messages, width)
            self.query_one("#ladder-header", Static).update(ladder.header)
            for i, row in enumerate(ladder.rows):
                text.append(row + "\n", style="reverse" if i == self.selected else "")
        self.query_one("#ladder", Static).update(text)
        visible = body.size.height or 1
        body.scroll_to(y=max(0, self.selected - visible // 2), animate=False)
        if self.messages:
            msg = self.messages[self.selected]
            h = msg.hep
            title = (f"{self.selected + 1}/{len(self.messages)}  {h.transport} "
                     f"{h.src_ip}:{h.src_port} -> {h.dst_ip}:{h.dst_port}")  # fmt: skip
            self.query_one("#ladder-message").border_title = title
            self.query_one("#ladder-text", Static).update(
                h.payload.decode("utf-8", "replace").replace("\r\n", "\n").rstrip()
            )
