"""A one-line sparkline of rates that shows an idle server as idle.

Textual's Sparkline scales between the window's minimum and maximum, so a series that
stays at 0.0/s is drawn as full bars (and with one sample, always full). Rates have a
natural floor, so here bars are scaled from zero to the window's peak, a zero is a dim
dot and a window of zeros is a dotted line. The newest value is on the right; before
the window fills, the left stays blank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"
IDLE = "·"
BAR_STYLE = "bold cyan"
IDLE_STYLE = "dim"


def bars(values: Sequence[float], width: int) -> Text:
    """The last ``width`` values as bars, zero to the peak; zeros (and negatives) as dots."""
    text = Text(no_wrap=True, overflow="crop")
    if width <= 0:
        return text
    shown = list(values)[-width:]
    text.append(" " * (width - len(shown)))
    peak = max(shown, default=0.0)
    for value in shown:
        if value <= 0 or peak <= 0:
            text.append(IDLE, IDLE_STYLE)
        else:
            level = min(len(BARS) - 1, max(0, math.ceil(value / peak * len(BARS)) - 1))
            text.append(BARS[level], BAR_STYLE)
    return text


def is_idle(values: Sequence[float]) -> bool:
    """No traffic in the whole window (or no window yet)."""
    return not any(v > 0 for v in values)


class RateLine(Widget):
    """Renders :func:`bars` over its own width; set :attr:`values` to update."""

    DEFAULT_CSS = "RateLine { height: 1; width: 1fr; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._values: list[float] = []

    @property
    def values(self) -> list[float]:
        return self._values

    @values.setter
    def values(self, values: Sequence[float]) -> None:
        self._values = list(values)
        self.refresh()

    def render(self) -> Text:
        return bars(self._values, self.size.width)
