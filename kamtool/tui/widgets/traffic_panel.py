"""Per-second traffic rates as sparklines, one line per series."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from kamtool.tui.fmt import rate
from kamtool.tui.traffic import SERIES_NAMES, Traffic
from kamtool.tui.widgets.rate_line import RateLine, is_idle


class TrafficPanel(Vertical):
    """Sparklines of requests, replies, forwarded, dropped, errors and replies by class.

    Call :meth:`show` with a :class:`~kamtool.tui.traffic.Traffic` after each stats poll.
    A series without traffic in its whole window says "idle" instead of "0.0/s".
    """

    DEFAULT_CSS = """
    TrafficPanel { height: auto; }
    TrafficPanel .traffic-row { height: 1; }
    TrafficPanel .traffic-name { width: 10; }
    TrafficPanel .traffic-rate { width: 9; text-align: right; }
    TrafficPanel .traffic-rate.-idle { color: $text-muted; }
    """

    def __init__(self, width: int = 120, **kwargs) -> None:
        super().__init__(**kwargs)
        self.points = width  # rates kept for the sparklines, which show what fits

    def compose(self) -> ComposeResult:
        self.lines: dict[str, tuple[RateLine, Label]] = {}
        for name in SERIES_NAMES:
            with Horizontal(classes="traffic-row", id=f"traffic-{name}"):
                yield Label(name, classes="traffic-name")
                spark = RateLine(id=f"spark-{name}")
                value = Label("-", classes="traffic-rate", id=f"rate-{name}")
                self.lines[name] = (spark, value)
                yield spark
                yield value

    def show(self, traffic: Traffic) -> None:
        for name, (spark, value) in self.lines.items():
            window = traffic.window(name)[-self.points :]
            spark.values = window
            idle = bool(window) and is_idle(window)
            value.update("idle" if idle else rate(traffic.latest(name)))
            value.set_class(idle, "-idle")
