"""Per-second traffic rates as sparklines, one line per series."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from kamtool.tui.fmt import rate
from kamtool.tui.traffic import SERIES_NAMES, Traffic


class TrafficPanel(Vertical):
    """Sparklines of requests, replies, forwarded, dropped, errors and replies by class.

    Call :meth:`show` with a :class:`~kamtool.tui.traffic.Traffic` after each stats poll.
    """

    DEFAULT_CSS = """
    TrafficPanel { height: auto; }
    TrafficPanel .traffic-row { height: 1; }
    TrafficPanel .traffic-name { width: 10; }
    TrafficPanel .traffic-rate { width: 9; text-align: right; }
    TrafficPanel Sparkline { width: 1fr; height: 1; }
    """

    def __init__(self, width: int = 60, **kwargs) -> None:
        super().__init__(**kwargs)
        self.points = width  # how many of the latest rates the sparklines show

    def compose(self) -> ComposeResult:
        self.lines: dict[str, tuple[Sparkline, Label]] = {}
        for name in SERIES_NAMES:
            with Horizontal(classes="traffic-row", id=f"traffic-{name}"):
                yield Label(name, classes="traffic-name")
                spark = Sparkline([], summary_function=max, id=f"spark-{name}")
                value = Label("-", classes="traffic-rate", id=f"rate-{name}")
                self.lines[name] = (spark, value)
                yield spark
                yield value

    def show(self, traffic: Traffic) -> None:
        for name, (spark, value) in self.lines.items():
            spark.data = traffic.window(name)[-self.points :]
            value.update(rate(traffic.latest(name)))
