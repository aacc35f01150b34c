"""Health checks: level, one-line reason and the command to look further."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from kamtool.tui.health import CRITICAL, OK, WARNING, Check

LEVEL_STYLE = {OK: "bold green", WARNING: "bold yellow", CRITICAL: "bold white on red"}


class HealthPanel(Static):
    """Renders a list of :class:`~kamtool.tui.health.Check` (call :meth:`show`)."""

    DEFAULT_CSS = """
    HealthPanel { height: auto; }
    """

    def show(self, checks: Sequence[Check]) -> None:
        text = Text()
        for i, check in enumerate(checks):
            if i:
                text.append("\n")
            text.append(f"{check.level:<8}", style=LEVEL_STYLE.get(check.level, ""))
            text.append(f" {check.name:<14}", style="bold")
            text.append(f" {check.reason}")
            if check.level != OK:
                text.append(f"\n{'':24}→ {check.command}", style="dim")
        self.update(text)
