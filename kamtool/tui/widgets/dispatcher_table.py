"""Dispatcher destinations per set, state in colour; set active or inactive."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding

from kamtool.tui.messages import ActionRequested
from kamtool.tui.source import Destination
from kamtool.tui.widgets.rows import Table, refill, selected_key

STATE_STYLE = {
    "active": "bold green",
    "trying": "bold yellow",
    "inactive": "bold red",
    "disabled": "dim red",
}

COLUMNS = (
    ("Set", "set"),
    ("Destination", "uri"),
    ("State", "state"),
    ("Flags", "flags"),
    ("Prio", "priority"),
    ("Weight", "weight"),
    ("Attributes", "attrs"),
)


class DispatcherTable(Table):
    """One row per destination, grouped by set. ``a`` activates, ``i`` deactivates."""

    BINDINGS = [
        Binding("a", "set_state(True)", "Set active"),
        Binding("i", "set_state(False)", "Set inactive"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True,
                         empty="no dispatcher destinations", **kwargs)  # fmt: skip
        self.destinations: list[Destination] = []
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, destinations: Sequence[Destination]) -> None:
        self.destinations = list(destinations)
        rows = []
        previous = None
        for d in self.destinations:
            state = Text(d.state + (" (probing)" if d.probing else ""))
            state.stylize(STATE_STYLE.get(d.state, ""), 0, len(d.state))
            rows.append(
                (
                    d.key,
                    [
                        str(d.set_id) if d.set_id != previous else "",
                        d.uri,
                        state,
                        d.flags,
                        str(d.priority),
                        "-" if d.weight is None else str(d.weight),
                        d.attrs or "-",
                    ],
                )
            )
            previous = d.set_id
        refill(self, rows)
        sets = len({d.set_id for d in self.destinations})
        self.border_subtitle = f"{sets} sets, {len(self.destinations)} destinations"

    def selected(self) -> Destination | None:
        key = selected_key(self)
        return next((d for d in self.destinations if d.key == key), None)

    def action_set_state(self, active: bool) -> None:
        dest = self.selected()
        if dest is None:
            self.notify("no destination selected", severity="warning")
            return
        word = "active" if active else "inactive"
        self.post_message(
            ActionRequested(
                description=f"set {dest.uri} (set {dest.set_id}) {word}",
                method="set_destination_state",
                args=(dest.set_id, dest.uri, active, dest.probing),
                group="dispatcher",
            )
        )
