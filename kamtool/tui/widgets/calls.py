"""Active dialogs with a running duration; end a call."""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding

from kamtool.tui.fmt import duration
from kamtool.tui.messages import ActionRequested
from kamtool.tui.source import Dialog
from kamtool.tui.widgets.rows import Table, refill, selected_key

COLUMNS = (
    ("From", "from"),
    ("To", "to"),
    ("State", "state"),
    ("Duration", "duration"),
    ("Call-ID", "call_id"),
)


def running(dialog: Dialog, elapsed: float) -> str:
    """The call's duration now; only confirmed calls keep counting."""
    if dialog.state in (3, 4):
        return duration(dialog.duration + elapsed)
    return duration(dialog.duration)


class CallsTable(Table):
    """One row per dialog. ``e`` ends the selected call (BYE to both sides)."""

    BINDINGS = [Binding("e", "end_call", "End call")]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, empty="no calls", **kwargs)
        self.dialogs: list[Dialog] = []
        self.sampled_at = 0.0
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def show(self, dialogs: Sequence[Dialog], sampled_at: float, now: float) -> None:
        self.dialogs, self.sampled_at = list(dialogs), sampled_at
        elapsed = now - sampled_at
        refill(
            self,
            [
                (d.key, [d.from_uri, d.to_uri, d.state_name, running(d, elapsed), d.call_id])
                for d in self.dialogs
            ],
        )
        self.border_subtitle = f"{len(self.dialogs)} dialogs"

    def tick(self, now: float) -> None:
        elapsed = now - self.sampled_at
        for d in self.dialogs:
            if d.key in self.rows:
                self.update_cell(d.key, "duration", running(d, elapsed))

    def selected(self) -> Dialog | None:
        key = selected_key(self)
        return next((d for d in self.dialogs if d.key == key), None)

    def action_end_call(self) -> None:
        dialog = self.selected()
        if dialog is None:
            self.notify("no call selected", severity="warning")
            return
        self.post_message(
            ActionRequested(
                description=f"end call {dialog.from_uri} → {dialog.to_uri}",
                method="end_dialog",
                args=(dialog.h_entry, dialog.h_id),
                group="dialogs",
                question=f"End the call {dialog.from_uri} → {dialog.to_uri} "
                f"(Call-ID {dialog.call_id})?",
            )
        )
