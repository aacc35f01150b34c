"""The Trace tab: live SIP messages from the monitor's HEP feed, filtered as
``kamtool trace`` filters; Enter opens the selected message's call flow."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label

from kamtool.core.trace import CallGroups, TracedMessage, TraceFilter
from kamtool.tui.widgets.ladder_screen import LadderScreen

MAX_ROWS = 2000  # rows kept in the table (the feed's store keeps more for ladders)
FILTER_KEYS = ("caller", "callee", "ip", "callid", "method")


def parse_filter(text: str) -> TraceFilter:
    """``caller=1001 method=INVITE`` (the ``kamtool trace`` options); ValueError if bad."""
    values: dict[str, str] = {}
    for word in text.split():
        name, sep, value = word.partition("=")
        if not sep or name not in FILTER_KEYS or not value:
            raise ValueError(f"{word!r}: use {', '.join(k + '=' for k in FILTER_KEYS)}")
        values[name] = value
    return TraceFilter(**values)


class TraceArrived(Message):
    """New messages from the feed (posted from its thread)."""

    def __init__(self, batch: list[TracedMessage]) -> None:
        super().__init__()
        self.batch = batch


class TracePanel(Vertical):
    """The filter line, the table of messages and a note; ``feed`` is a
    :class:`~kamtool.tui.hep_feed.HepFeed` or None (then the tab says how to get one)."""

    def __init__(self, feed: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feed = feed
        self.filter = TraceFilter()
        self.groups = CallGroups()
        self.shown: list[TracedMessage] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: caller=U callee=U ip=IP callid=ID method=M (Enter)",
                    id="trace-filter")  # fmt: skip
        yield Label("", id="trace-note", classes="note")
        table: DataTable = DataTable(id="trace-table", cursor_type="row", zebra_stripes=True)
        for name in ("Time", "#", "Proto", "Source", "Destination", "Message", "Call-ID"):
            table.add_column(name, key=name)
        yield table

    def on_mount(self) -> None:
        if self.feed is None:
            self.say("no HEP feed: start the monitor with --hep udp:IP:PORT")
            return
        self.say(f"collecting HEP on {self.feed.uri}" + (
            f"; {self.feed.error}" if self.feed.error else ""))  # fmt: skip
        self.feed.on_batch = lambda batch: self.post_message(TraceArrived(batch))
        self.add(list(self.feed.store.messages))

    def say(self, text: str) -> None:
        note = self.query_one("#trace-note", Label)
        note.update(text)
        note.display = bool(text)

    def on_trace_arrived(self, message: TraceArrived) -> None:
        self.add(message.batch)

    def add(self, batch: list[TracedMessage]) -> None:
        """Append the messages that pass the filter (the table keeps the newest rows)."""
        table = self.query_one("#trace-table", DataTable)
        for msg in batch:
            if not self.filter.matches(msg):
                continue
            number = self.groups.add(msg)
            self.shown.append(msg)
            h = msg.hep
            from kamtool.tui.ladder import address, stamp

            table.add_row(stamp(msg), str(number), h.transport, address(h.src_ip, h.src_port),
                          address(h.dst_ip, h.dst_port), msg.first_line, msg.call_id,
                          key=str(len(self.shown) - 1))  # fmt: skip
        while table.row_count > MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        table.border_subtitle = f"{table.row_count} messages, {len(self.groups.calls)} calls"

    @on(Input.Submitted, "#trace-filter")
    def set_filter(self, event: Input.Submitted) -> None:
        try:
            self.filter = parse_filter(event.value)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        table = self.query_one("#trace-table", DataTable)
        table.clear()
        self.shown, self.groups = [], CallGroups()
        self.add(list(self.feed.store.messages) if self.feed is not None else [])

    @on(DataTable.RowSelected, "#trace-table")
    def open_ladder(self, event: DataTable.RowSelected) -> None:
        event.stop()
        msg = self.shown[int(str(event.row_key.value))]
        self.app.push_screen(ladder_for(self.feed, msg.call_id))


def ladder_for(feed: Any, call_id: str) -> LadderScreen:
    """The ladder screen of ``call_id`` from what ``feed`` collected (None: nothing)."""
    return LadderScreen(call_id, feed.store.call(call_id) if feed is not None else [])
