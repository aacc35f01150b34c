"""Totals since the server started: registrations, dialogs, final replies by class."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from textual.widgets import Static

from kamtool.tui.traffic import since_start


class SinceStart(Static):
    """A few lines of counters (call :meth:`show` with a statistics sample)."""

    DEFAULT_CSS = "SinceStart { height: auto; }"

    def show(self, stats: Mapping[str, float]) -> None:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for label, text in since_start(stats):
            grid.add_row(label, text)
        self.update(grid)
