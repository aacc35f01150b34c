"""Banned addresses (htable ipban, with expiry) and the top sources of pike."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from kamtool.tui.fmt import countdown
from kamtool.tui.source import Ban, PikeEntry
from kamtool.tui.widgets.rows import Table, refill


def ban_expiry(ban: Ban, elapsed: float) -> str:
    return "unknown" if ban.expires is None else countdown(ban.expires, elapsed)


class SecurityPanel(Vertical):
    """Two tables: bans with a live countdown, and pike's hot sources."""

    DEFAULT_CSS = """
    SecurityPanel DataTable { height: 1fr; }
    SecurityPanel Label { padding: 0 1; text-style: bold; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bans: list[Ban] = []
        self.sampled_at = 0.0

    def compose(self) -> ComposeResult:
        # Kept rather than queried: a timer may tick while the app tears the DOM down.
        self.bans_title = Label("Banned addresses (htable ipban)", id="bans-title")
        self.bans_table = bans = Table(id="bans-table", cursor_type="row", zebra_stripes=True,
                                       empty="no bans")  # fmt: skip
        bans.add_column("Address", key="address")
        bans.add_column("Value", key="value")
        bans.add_column("Expires in", key="expires")
        yield self.bans_title
        yield bans
        self.pike_title = Label("Top sources (pike.top)", id="pike-title")
        yield self.pike_title
        self.pike_table = pike = Table(id="pike-table", cursor_type="row", zebra_stripes=True,
                                       empty="no busy sources")  # fmt: skip
        for label, key in (
            ("Address", "address"),
            ("Hits", "hits"),
            ("Before", "prev"),
            ("Expires", "expires"),
            ("Status", "status"),
        ):
            pike.add_column(label, key=key)
        yield pike

    def show_bans(self, bans: Sequence[Ban], sampled_at: float, now: float) -> None:
        self.bans, self.sampled_at = list(bans), sampled_at
        elapsed = now - sampled_at
        refill(
            self.bans_table,
            [(b.address, [b.address, b.value, ban_expiry(b, elapsed)]) for b in self.bans],
        )
        self.bans_title.update(f"Banned addresses (htable ipban): {len(self.bans)}")

    def show_pike(self, entries: Sequence[PikeEntry]) -> None:
        refill(
            self.pike_table,
            [
                (
                    e.address,
                    [e.address, str(e.hits_curr), str(e.hits_prev), f"{e.expires}s", e.status],
                )
                for e in entries
            ],
        )
        self.pike_title.update(f"Top sources (pike.top): {len(entries)}")

    def show_error(self, section: str, error: str) -> None:
        title = self.bans_title if section == "bans" else self.pike_title
        what = "Banned addresses" if section == "bans" else "Top sources"
        title.update(f"{what}: not available ({error})")

    def tick(self, now: float) -> None:
        table = self.bans_table
        elapsed = now - self.sampled_at
        for b in self.bans:
            if b.address in table.rows:
                table.update_cell(b.address, "expires", ban_expiry(b, elapsed))
