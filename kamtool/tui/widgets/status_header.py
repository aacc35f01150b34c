"""The top line: target, server version, uptime and connection state."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from kamtool.tui.fmt import duration


class StatusHeader(Widget):
    """Shows what is watched and whether it answers.

    The app sets ``version``, ``uptime`` (seconds, at ``uptime_at``) and ``error``
    (None when the last poll got an answer); ``now`` advances the uptime between polls.
    """

    DEFAULT_CSS = """
    StatusHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    target: reactive[str] = reactive("", init=False)
    version: reactive[str] = reactive("", init=False)
    uptime: reactive[int | None] = reactive(None, init=False)
    uptime_at: reactive[float] = reactive(0.0, init=False)
    now: reactive[float] = reactive(0.0, init=False)
    connected: reactive[bool | None] = reactive(None, init=False)  # None: no answer yet
    error: reactive[str] = reactive("", init=False)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.connected is None:
            text.append("◌ connecting", style="bold yellow")
        elif self.connected:
            text.append("● connected", style="bold green")
        else:
            text.append("○ unreachable", style="bold red")
        text.append("  ")
        text.append(self.target, style="underline")
        if self.version:
            # "kamailio 5.6.3 (x86_64/linux)": the build triple does not earn its space
            text.append(f"  {self.version.split(' (', 1)[0]}")
        if self.uptime is not None:
            up = (
                self.uptime + max(0.0, self.now - self.uptime_at) if self.connected else self.uptime
            )
            text.append(f"  up {duration(up)}")
        if self.connected is False:
            text.append(f"  retrying: {self.error}", style="red")
        return text
