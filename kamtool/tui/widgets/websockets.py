"""Open WebSocket connections (``ws.dump``), under the registrations: a browser's contact
is only reachable while its connection is open, so the two are read side by side."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from kamtool.tui.fmt import duration
from kamtool.tui.messages import ActionRequested
from kamtool.tui.source import WebSocket
from kamtool.tui.widgets.rows import Table, refill, selected_key

COLUMNS = (
    ("Id", "id"),
    ("Proto", "proto"),
    ("Client", "source"),
    ("Local", "local"),
    ("State", "state"),
    ("Idle", "idle"),
)


def state_text(conn: WebSocket) -> str:
    """``OPEN``, or ``OPEN, awaiting Pong`` while a keepalive Ping is unanswered."""
    return f"{conn.state}, awaiting Pong" if conn.awaiting_pong else conn.state


class WebSocketPanel(Vertical):
    """The connections, most recently used first, with their idle time moving on between
    polls. Hidden while the server has no WebSocket support. ``w`` closes the selected
    connection (``ws.close``), after asking."""

    BINDINGS = [Binding("w", "close_connection", "Close WebSocket")]

    DEFAULT_CSS = """
    WebSocketPanel { height: auto; max-height: 12; border: round $primary-darken-1; }
    WebSocketPanel DataTable { height: auto; max-height: 10; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.connections: list[WebSocket] = []
        self.sampled_at = 0.0

    def compose(self) -> ComposeResult:
        # Kept rather than queried: a timer may tick while the app tears the DOM down.
        self.table = Table(id="ws-table", cursor_type="row", zebra_stripes=True,
                           empty="no WebSocket connections")  # fmt: skip
        for label, key in COLUMNS:
            self.table.add_column(label, key=key)
        yield self.table

    def show(self, connections: Sequence[WebSocket] | None, sampled_at: float, now: float) -> None:
        """Fill the table; ``connections`` None hides the panel (no ``ws.dump``)."""
        self.display = connections is not None
        if connections is None:
            return
        self.connections, self.sampled_at = list(connections), sampled_at
        elapsed = max(0.0, now - sampled_at)
        refill(
            self.table,
            [
                (
                    c.key,
                    [
                        str(c.id),
                        c.proto.upper(),
                        c.source,
                        c.local,
                        state_text(c),
                        duration(c.idle + elapsed),
                    ],
                )  # fmt: skip
                for c in self.connections
            ],
        )
        self.border_title = f"WebSocket connections: {len(self.connections)}"

    def show_error(self, error: str) -> None:
        self.display = True
        self.border_title = f"WebSocket connections: not available ({error})"

    def tick(self, now: float) -> None:
        """Move the idle times on to ``now`` without rebuilding the table."""
        elapsed = max(0.0, now - self.sampled_at)
        for c in self.connections:
            if c.key in self.table.rows:
                self.table.update_cell(c.key, "idle", duration(c.idle + elapsed))

    def selected(self) -> WebSocket | None:
        key = selected_key(self.table)
        return next((c for c in self.connections if c.key == key), None)

    def action_close_connection(self) -> None:
        conn = self.selected()
        if conn is None:
            self.notify("no WebSocket connection selected", severity="warning")
            return
        self.post_message(
            ActionRequested(
                description=f"close WebSocket {conn.id} ({conn.source})",
                method="close_websocket",
                args=(conn.id,),
                group="websockets",
                question=f"Close WebSocket connection {conn.id} from {conn.source}?",
            )
        )
