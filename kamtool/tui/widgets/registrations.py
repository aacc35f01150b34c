"""Registered contacts with a live expiry countdown, a text filter and removal."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input

from kamtool.tui.fmt import countdown
from kamtool.tui.messages import ActionRequested
from kamtool.tui.source import Contact
from kamtool.tui.widgets.rows import Table, refill, selected_key

COLUMNS = (
    ("AoR", "aor"),
    ("Contact", "address"),
    ("Expires", "expires"),
    ("Proto", "transport"),
    ("Received", "received"),
    ("User agent", "user_agent"),
)


def matches(contact: Contact, needle: str) -> bool:
    """Case-insensitive substring match on AoR, address, received, UA and socket."""
    if not needle:
        return True
    hay = " ".join(
        (contact.aor, contact.address, contact.received, contact.user_agent, contact.socket)
    )
    return needle.lower() in hay.lower()


class RegistrationsPanel(Vertical):
    """AoRs and their contacts. ``/`` filters, ``d`` removes the selected contact."""

    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("d,delete", "remove", "Remove contact"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    DEFAULT_CSS = """
    RegistrationsPanel #reg-filter { height: 3; }
    RegistrationsPanel DataTable { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.contacts: list[Contact] = []
        self.sampled_at = 0.0
        self.now = 0.0

    def compose(self) -> ComposeResult:
        # Kept rather than queried: a timer may tick while the app tears the DOM down.
        self.filter = Input(placeholder="filter: AoR, address, user agent… (/)", id="reg-filter")
        self.table = Table(id="reg-table", cursor_type="row", zebra_stripes=True,
                           empty="no registrations")  # fmt: skip
        for label, key in COLUMNS:
            self.table.add_column(label, key=key)
        yield self.filter
        yield self.table

    @property
    def needle(self) -> str:
        return self.filter.value.strip()

    def show(self, contacts: Sequence[Contact], sampled_at: float, now: float) -> None:
        self.contacts, self.sampled_at, self.now = list(contacts), sampled_at, now
        self._fill()

    def _fill(self) -> None:
        elapsed = self.now - self.sampled_at
        rows = [
            (
                c.key,
                [
                    c.aor,
                    c.address,
                    countdown(c.expires, elapsed),
                    c.transport,
                    c.received or "-",
                    c.user_agent or "-",
                ],
            )
            for c in self.visible()
        ]
        self.table.empty = "no contact matches the filter" if self.contacts else "no registrations"
        refill(self.table, rows)
        self.border_subtitle = f"{len(rows)} of {len(self.contacts)} contacts"

    def visible(self) -> list[Contact]:
        needle = self.needle
        return [c for c in self.contacts if matches(c, needle)]

    def tick(self, now: float) -> None:
        """Advance the countdowns to ``now`` without rebuilding the table."""
        self.now = now
        elapsed = now - self.sampled_at
        table = self.table
        for c in self.visible():
            if c.key in table.rows:
                table.update_cell(c.key, "expires", countdown(c.expires, elapsed))

    def selected(self) -> Contact | None:
        key = selected_key(self.table)
        return next((c for c in self.contacts if c.key == key), None)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def action_filter(self) -> None:
        self.filter.focus()

    def action_clear_filter(self) -> None:
        self.filter.value = ""
        self.table.focus()

    def action_remove(self) -> None:
        contact = self.selected()
        if contact is None:
            self.notify("no contact selected", severity="warning")
            return
        self.post_message(
            ActionRequested(
                description=f"remove {contact.address} of {contact.aor}",
                method="remove_contact",
                args=(contact.aor, contact.address),
                group="contacts",
                question=f"Remove contact {contact.address} of {contact.aor}?",
            )
        )
