"""Read-only tables for the overview, sized to their box: calls, registrations, sources, bans.

The tabs hold the full, interactive tables; a glance shows the rows that fit, then
"… N more", and says "no calls" (or what else is missing) when there is nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from kamtool.tui.fmt import countdown
from kamtool.tui.source import Ban, Contact, Dialog, PikeEntry
from kamtool.tui.widgets.calls import running
from kamtool.tui.widgets.security_panel import ban_expiry

Row = list[str | Text]


def short_uri(uri: str) -> str:
    """``sip:1001@example.com`` -> ``1001@example.com`` (the scheme does not earn its space)."""
    for scheme in ("sip:", "sips:"):
        if uri.lower().startswith(scheme):
            return uri[len(scheme) :]
    return uri


class Glance(Widget):
    """A table of :meth:`rows` cut to the widget's height. Subclasses set ``COLUMNS``
    (header, rich column options), ``EMPTY`` and ``MORE`` (where to see the rest)."""

    COLUMNS: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = ()
    EMPTY = "nothing"
    MORE = ""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.now = 0.0
        self.sampled_at = 0.0
        self.error: str | None = None

    def count(self) -> int:
        """How many rows there are."""
        return 0

    def rows(self, limit: int | None = None) -> list[Row]:
        """The first ``limit`` rows (all with None), formatted: only what is shown is built
        (a busy server has thousands of contacts, and this runs every second)."""
        return []

    def tick(self, now: float) -> None:
        """Move countdowns and durations on."""
        self.now = now
        self.refresh()

    def show_error(self, error: str) -> None:
        """The section could not be read: say why instead of the rows."""
        self.error = error
        self.refresh(layout=True)

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        """Every row and the header (a box with ``height: auto`` grows with its rows up to
        its ``max-height``; :meth:`render` then cuts to what fits)."""
        if self.error:
            return 1
        rows = self.count()
        return rows + 1 if rows else 1

    def render(self) -> RenderableType:
        if self.error:
            return Text(f"not available: {self.error}", style="italic yellow")
        total = self.count()
        if not total:
            return Text(self.EMPTY, style="dim italic")
        fit = max(1, self.content_size.height - 1)  # one line for the header
        shown = self.rows(fit if total <= fit else max(0, fit - 1))
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False,
                      header_style="bold", padding=(0, 1))  # fmt: skip
        for header, options in self.COLUMNS:
            table.add_column(header, no_wrap=True, overflow="ellipsis", **options)
        for row in shown:
            table.add_row(*row)
        hidden = total - len(shown)
        if not hidden:
            return table
        return Group(table, Text(f"… {hidden} more{self.MORE}", style="dim"))


class CallsGlance(Glance):
    """Calls up now (dialogs not yet deleted), newest first, with running durations."""

    COLUMNS = (("From", {"ratio": 1}), ("To", {"ratio": 1}), ("State", {}),
               ("Duration", {"justify": "right", "min_width": 8}))  # fmt: skip
    EMPTY = "no calls"
    MORE = " (3 Calls)"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dialogs: list[Dialog] = []

    def show(self, dialogs: Sequence[Dialog], sampled_at: float, now: float) -> None:
        self.dialogs = sorted((d for d in dialogs if d.state != 5),
                              key=lambda d: d.start_ts, reverse=True)  # fmt: skip
        self.sampled_at, self.now, self.error = sampled_at, now, None
        states = Counter("early" if d.state in (1, 2) else "confirmed" for d in self.dialogs)
        detail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        self.border_title = f"Calls now: {len(self.dialogs)} ({detail})" if detail else "Calls now"
        self.refresh(layout=True)

    def count(self) -> int:
        return len(self.dialogs)

    def rows(self, limit: int | None = None) -> list[Row]:
        elapsed = self.now - self.sampled_at
        out: list[Row] = []
        for d in self.dialogs[:limit]:
            state = Text(d.state_name, style="green" if d.state in (3, 4) else "yellow")
            out.append([short_uri(d.from_uri), short_uri(d.to_uri), state, running(d, elapsed)])
        return out


class RegistrationsGlance(Glance):
    """Registered contacts, the most recently (re)registered first."""

    COLUMNS = (("AoR", {"max_width": 24}), ("Contact", {"ratio": 3}), ("Proto", {}),
               ("Expires", {"justify": "right", "min_width": 7}),
               ("User agent", {"ratio": 1}))  # fmt: skip
    EMPTY = "no registrations"
    MORE = " (2 Registrations)"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.contacts: list[Contact] = []

    def show(self, contacts: Sequence[Contact], sampled_at: float, now: float) -> None:
        self.contacts = sorted(contacts, key=lambda c: c.last_modified or 0, reverse=True)
        self.sampled_at, self.now, self.error = sampled_at, now, None
        aors = len({c.aor for c in self.contacts})
        protos = Counter(c.transport for c in self.contacts)
        self.border_title = (f"Registrations: {len(self.contacts)} contacts of {aors} AoRs"
                             if self.contacts else "Registrations")  # fmt: skip
        self.border_subtitle = " · ".join(f"{p} {n}" for p, n in sorted(protos.items()))
        self.refresh(layout=True)

    def count(self) -> int:
        return len(self.contacts)

    def rows(self, limit: int | None = None) -> list[Row]:
        elapsed = self.now - self.sampled_at
        return [
            [c.aor, short_uri(c.address), c.transport, countdown(c.expires, elapsed),
             c.user_agent or "-"]
            for c in self.contacts[:limit]
        ]  # fmt: skip


class SourcesGlance(Glance):
    """The addresses sending the most requests (pike), busiest first."""

    # the status (HOT, WARM) needs no header: it leaves room for an IPv4 address
    COLUMNS = (("Address", {"min_width": 15}), ("Hits", {"justify": "right"}),
               ("", {"min_width": 4}))  # fmt: skip
    EMPTY = "no busy sources"
    MORE = " (5 Security)"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: list[PikeEntry] = []

    def show(self, entries: Sequence[PikeEntry]) -> None:
        self.entries = list(entries)  # busiest first (RpcSource.pike_top)
        self.error = None
        self.refresh(layout=True)

    def count(self) -> int:
        return len(self.entries)

    def rows(self, limit: int | None = None) -> list[Row]:
        style = {"HOT": "bold red", "WARM": "yellow"}
        return [[e.address, str(e.hits_curr + e.hits_prev), Text(e.status, style.get(e.status, ""))]
                for e in self.entries[:limit]]  # fmt: skip


class BansGlance(Glance):
    """Banned addresses (htable ipban) and when each ban ends."""

    COLUMNS = (("Address", {"min_width": 15}), ("Ends in", {"justify": "right", "min_width": 7}))
    EMPTY = "no bans"
    MORE = " (5 Security)"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bans: list[Ban] = []

    def show(self, bans: Sequence[Ban], sampled_at: float, now: float) -> None:
        self.bans, self.sampled_at, self.now, self.error = list(bans), sampled_at, now, None
        self.border_title = f"Bans: {len(self.bans)}" if self.bans else "Bans"
        self.refresh(layout=True)

    def count(self) -> int:
        return len(self.bans)

    def rows(self, limit: int | None = None) -> list[Row]:
        elapsed = self.now - self.sampled_at
        return [[b.address, ban_expiry(b, elapsed)] for b in self.bans[:limit]]
