"""Tables that say when they are empty, refilled from keyed rows without losing the user's
place."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widgets import DataTable

Cell = str | Text


class Table(DataTable):
    """A DataTable that writes ``empty`` ("no calls") under its header when it has no rows,
    instead of showing the header alone."""

    def __init__(self, *, empty: str = "nothing to show", **kwargs) -> None:
        super().__init__(**kwargs)
        self.empty = empty

    def render_line(self, y: int) -> Strip:
        if self.row_count == 0 and y == (1 if self.show_header else 0) and self.empty:
            text = Text(f" {self.empty}", style=Style(italic=True, dim=True))
            segments = list(text.render(self.app.console))
            return Strip(segments).extend_cell_length(self.size.width).apply_style(self.rich_style)
        return super().render_line(y)


def refill(table: DataTable, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
    """Replace every row of ``table``; the cursor stays on the same key if it still exists."""
    selected = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected is not None:
        keys = [key for key, _ in rows]
        if selected in keys:
            table.move_cursor(row=keys.index(selected), animate=False)


def selected_key(table: DataTable) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if table.row_count == 0:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # the cursor points past the rows while the table refills
        return None
