"""Health checks: level, one-line reason and the command to look further."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from kamtool.tui.health import CRITICAL, OK, WARNING, Check

LEVEL_STYLE = {OK: "bold green", WARNING: "bold yellow", CRITICAL: "bold white on red"}


class HealthPanel(Static):
    """Renders a list of :class:`~kamtool.tui.health.Check` (call :meth:`show`).

    A grid, so that a long reason wraps under itself rather than under the level.
    """

    DEFAULT_CSS = """
    HealthPanel { height: auto; }
    """

    def show(self, checks: Sequence[Check]) -> None:
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True, min_width=8)
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(ratio=1)
        for check in checks:
            reason = Text(check.reason)
            if check.level != OK:
                reason.append(f"\n→ {check.command}", style="dim")
            grid.add_row(Text(check.level, style=LEVEL_STYLE.get(check.level, "")),
                         check.name, reason)  # fmt: skip
        self.update(grid)
