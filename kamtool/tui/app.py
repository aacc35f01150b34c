"""``kamtool monitor``: the Textual app.

Polling runs in thread workers, one group per panel, so a slow or dead endpoint never
freezes the UI and a slow section never holds up the others. A group whose previous
poll is still running is skipped rather than piled up. Results come back as messages
(:mod:`kamtool.tui.messages`); the app keeps the state and hands it to the widgets.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Label, TabbedContent, TabPane
from textual.worker import WorkerState

from kamtool.errors import KamtoolError
from kamtool.tui.events import EventLog
from kamtool.tui.health import Thresholds, evaluate, worst
from kamtool.tui.messages import ActionFinished, ActionRequested, Polled, PollFailed
from kamtool.tui.polling import read_group
from kamtool.tui.source import Destination, MonitorSource
from kamtool.tui.traffic import Traffic
from kamtool.tui.widgets.calls import CallsTable
from kamtool.tui.widgets.confirm_screen import ConfirmScreen
from kamtool.tui.widgets.dispatcher_table import DispatcherTable
from kamtool.tui.widgets.health_panel import HealthPanel
from kamtool.tui.widgets.help_screen import HelpScreen
from kamtool.tui.widgets.overview import OverviewPane
from kamtool.tui.widgets.registrations import RegistrationsPanel
from kamtool.tui.widgets.security_panel import SecurityPanel
from kamtool.tui.widgets.status_header import StatusHeader
from kamtool.tui.widgets.traffic_panel import TrafficPanel
from kamtool.tui.widgets.websockets import WebSocketPanel

GROUPS = ("server", "contacts", "dialogs", "dispatcher", "security", "websockets")
TABS = ("overview", "registrations", "calls", "dispatcher", "security")
BASELINE_SECONDS = 60.0  # health rates are computed over about this long


class MonitorApp(App[None]):
    """The live dashboard over a :class:`~kamtool.tui.source.MonitorSource`.

    Args:
        source: where the data comes from (``RpcSource`` live, ``FakeSource`` in tests).
        interval: seconds between polls; None polls once at start only (tests drive it).
        clock: wall-clock seconds; tests pass a fixed one so countdowns do not move.
        limits: the health thresholds (``[monitor]`` and ``--threshold``); defaults if None.
        greeting: a note shown once at start (``kamtool demo`` says what is going on).
    """

    CSS_PATH = "monitor.tcss"
    TITLE = "kamtool monitor"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    BINDINGS: ClassVar = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("r", "refresh", "Refresh"),
        Binding("t", "trace", "Trace", show=False),  # the HEP feed (kamtool.tui.hep_feed)
        *(
            Binding(str(i + 1), f"show_tab('{tab}')", tab.title(), show=False)
            for i, tab in enumerate(TABS)
        ),  # fmt: skip
    ]

    def __init__(
        self,
        source: MonitorSource,
        *,
        interval: float | None = 2.0,
        clock: Callable[[], float] = time.time,
        limits: Thresholds | None = None,
        hep: Any = None,
        greeting: str | None = None,
    ) -> None:
        super().__init__()
        self.hep = hep  # HepFeed: the Trace screen and the calls' ladders
        self.greeting = greeting
        self.source = source
        self.limits = limits or Thresholds()
        self.interval = interval
        self.clock = clock
        self.traffic = Traffic()
        self.version: str | None = None
        self.stats: dict[str, float] = {}
        self.transactions: dict[str, int] = {}
        self.destinations: list[Destination] = []
        self.history: deque[tuple[float, dict[str, float], dict[str, int]]] = deque()
        self.unreachable: str | None = None
        self.events = EventLog()
        self._parts: dict[Any, Any] = {}
        self.checks = evaluate(target=source.target, stats={}, transactions={}, destinations=[],
                               limits=self.limits)  # fmt: skip

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="status")
        with TabbedContent(initial="overview", id="tabs"):
            with TabPane("1 Overview", id="overview"):
                yield OverviewPane(self.events, id="overview-body")
            with TabPane("2 Registrations", id="registrations"):
                yield RegistrationsPanel(id="registrations-panel")
                yield WebSocketPanel(id="ws-panel")
            with TabPane("3 Calls", id="calls"):
                yield Label("", id="calls-note", classes="note")
                yield CallsTable(id="calls-table")
            with TabPane("4 Dispatcher", id="dispatcher"):
                yield Label("", id="dispatcher-note", classes="note")
                yield DispatcherTable(id="dispatcher-table")
            with TabPane("5 Security", id="security"):
                yield SecurityPanel(id="security-panel")
        yield Footer()

    def on_mount(self) -> None:
        # The main screen's widgets, kept so that updates still land while a modal
        # screen (confirmation, help) is on top: App.query_one searches the top screen.
        self.main = self.screen
        for selector in (StatusHeader, TrafficPanel, HealthPanel, RegistrationsPanel,
                         CallsTable, DispatcherTable, SecurityPanel, TabbedContent, OverviewPane,
                         WebSocketPanel,
                         "#calls-note", "#dispatcher-note"):  # fmt: skip
            self.part(selector)
        self.tab_labels = {tab: self.part(TabbedContent).get_tab(tab) for tab in TABS}
        header = self.header
        header.target = self.source.target
        header.now = self.clock()
        self.overview.events.started = self.overview.events.now = header.now
        self.part(HealthPanel).show(self.checks)
        for note in self.main.query(".note"):
            note.display = False
        self.part(WebSocketPanel).display = False  # until ws.dump answers
        if self.greeting:
            self.notify(self.greeting, timeout=20)
        self.poll_all()
        if self.interval:
            self.set_interval(self.interval, self.poll_all)
        self.set_interval(1.0, self.tick)

    def part(self, selector: Any, expect: Any = None) -> Any:
        """A widget of the main screen, looked up once.

        Cached because ``App.query_one`` searches the top screen (a confirmation may be
        on top) and finds nothing while the app shuts down, when a timer may still fire.
        """
        if selector not in self._parts:
            found = self.main.query_one(selector) if expect is None else (
                self.main.query_one(selector, expect))  # fmt: skip
            self._parts[selector] = found
        return self._parts[selector]

    @property
    def header(self) -> StatusHeader:
        return self.part(StatusHeader)

    @property
    def overview(self) -> OverviewPane:
        return self.part(OverviewPane)

    # ------------------------------------------------------------------ polling

    def busy(self, group: str) -> bool:
        return any(
            w.group == group and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.workers
        )

    def poll_all(self) -> None:
        """Start a poll of every group that is not still waiting for its last one."""
        for group in GROUPS:
            if not self.busy(group):
                getattr(self, f"poll_{group}")()

    def _read(self, group: str, reads: dict[str, Callable[[], Any]], optional: bool) -> None:
        """Run ``reads`` (in a worker thread) and post the outcome."""
        self.post_message(read_group(group, reads, optional=optional, at=self.clock()))

    @work(thread=True, exclusive=True, group="server")
    def poll_server(self) -> None:
        reads: dict[str, Callable[[], Any]] = {}
        if self.version is None:
            reads["version"] = self.source.version
        reads.update(
            uptime=self.source.uptime,
            stats=self.source.stats,
            transactions=self.source.transactions,
        )
        self._read("server", reads, optional=True)

    @work(thread=True, exclusive=True, group="contacts")
    def poll_contacts(self) -> None:
        self._read("contacts", {"contacts": self.source.contacts}, optional=False)

    @work(thread=True, exclusive=True, group="dialogs")
    def poll_dialogs(self) -> None:
        self._read("dialogs", {"dialogs": self.source.dialogs}, optional=False)

    @work(thread=True, exclusive=True, group="dispatcher")
    def poll_dispatcher(self) -> None:
        self._read("dispatcher", {"dispatcher": self.source.dispatcher}, optional=False)

    @work(thread=True, exclusive=True, group="security")
    def poll_security(self) -> None:
        self._read(
            "security", {"bans": self.source.bans, "pike": self.source.pike_top}, optional=True
        )

    @work(thread=True, exclusive=True, group="websockets")
    def poll_websockets(self) -> None:
        self._read("websockets", {"websockets": self.source.websockets}, optional=False)

    # ------------------------------------------------------------------ results

    def on_polled(self, message: Polled) -> None:
        self.unreachable = None
        now = self.clock()
        data = message.data
        header = self.header
        header.connected, header.now = True, now
        header.target = self.source.target
        self.main.remove_class("-offline")
        self.events.connection(now, None)
        overview = self.overview
        if message.group == "server":
            if "version" in data:
                self.version = data["version"]
                header.version = self.version or ""
            if "uptime" in data:
                header.uptime, header.uptime_at = data["uptime"], message.at
                self.events.uptime(message.at, data["uptime"])
            self.stats = data.get("stats", {})
            if "stats" in data:  # a refused read is not every counter falling to zero
                self.events.stats(message.at, self.stats)
                overview.since_start.show(self.stats)
            self.transactions = data.get("transactions", {})
            self.traffic.add(message.at, self.stats)
            self.history.append((message.at, self.stats, self.transactions))
            while len(self.history) > 2 and self.history[1][0] <= message.at - BASELINE_SECONDS:
                self.history.popleft()
            self.part(TrafficPanel).show(self.traffic)
        elif message.group == "contacts":
            self.part(RegistrationsPanel).show(data["contacts"], message.at, now)
            overview.registrations.show(data["contacts"], message.at, now)
            self.count_in_tab("registrations", len(data["contacts"]))
        elif message.group == "websockets":
            self.part(WebSocketPanel).show(data["websockets"], message.at, now)
        elif message.group == "dialogs":
            self.part(CallsTable).show(data["dialogs"], message.at, now)
            overview.calls.show(data["dialogs"], message.at, now)
            self.count_in_tab("calls", len(data["dialogs"]))
            self.note("#calls-note", "")
        elif message.group == "dispatcher":
            self.destinations = data["dispatcher"]
            self.part(DispatcherTable).show(self.destinations)
            self.events.dispatcher(message.at, self.destinations)
            self.count_in_tab("dispatcher", len(self.destinations))
            self.note("#dispatcher-note", "")
        elif message.group == "security":
            panel = self.part(SecurityPanel)
            self.count_in_tab("security", len(data.get("bans", [])))
            for name, glance in (("bans", overview.bans), ("pike", overview.sources)):
                if f"error:{name}" in data:
                    panel.show_error(name, data[f"error:{name}"])
                    glance.show_error(data[f"error:{name}"])
            if "bans" in data:
                panel.show_bans(data["bans"], message.at, now)
                overview.bans.show(data["bans"], message.at, now)
                self.events.bans(message.at, data["bans"])
            if "pike" in data:
                panel.show_pike(data["pike"])
                overview.sources.show(data["pike"])
        self.update_health()

    def on_poll_failed(self, message: PollFailed) -> None:
        if message.unreachable:
            self.unreachable = message.error
            header = self.header
            header.connected, header.error = False, message.error
            self.main.add_class("-offline")  # the tables show the last answer: dim them
            self.events.connection(self.clock(), message.error)
        elif message.group in ("dialogs", "dispatcher"):
            note = "#calls-note" if message.group == "dialogs" else "#dispatcher-note"
            self.note(note, f"not available: {message.error}")
            if message.group == "dialogs":
                self.overview.calls.show_error(message.error)
        elif message.group == "websockets":
            self.part(WebSocketPanel).show_error(message.error)
        elif message.group == "contacts":
            self.part(RegistrationsPanel).border_subtitle = f"error: {message.error}"
            self.overview.registrations.show_error(message.error)
        self.update_health()

    def count_in_tab(self, tab: str, count: int) -> None:
        """Show a count in a tab's label: "3 Calls (2)"."""
        number = TABS.index(tab) + 1
        label = f"{number} {tab.title()} ({count})"
        self.tab_labels[tab].label = label

    def note(self, selector: str, text: str) -> None:
        label = self.part(selector, Label)
        label.update(text)
        label.display = bool(text)

    def update_health(self) -> None:
        baseline = self.history[0] if len(self.history) > 1 else None
        self.checks = evaluate(
            target=self.source.target,
            stats=self.stats,
            transactions=self.transactions,
            destinations=self.destinations,
            connection_error=self.unreachable,
            baseline=baseline[1] if baseline else None,
            baseline_transactions=baseline[2] if baseline else None,
            limits=self.limits,
        )
        panel = self.part(HealthPanel)
        panel.show(self.checks)
        panel.border_title = f"Health: {worst(self.checks)}"
        if self.stats or self.unreachable:  # before the first answer there is nothing to judge
            self.events.health(self.clock(), self.checks)
        self.overview.events.now = self.clock()
        self.overview.events.refresh(layout=True)

    def tick(self) -> None:
        """Once a second: move countdowns and durations on, without polling."""
        now = self.clock()
        self.header.now = now
        self.part(RegistrationsPanel).tick(now)
        self.part(CallsTable).tick(now)
        self.part(SecurityPanel).tick(now)
        self.part(WebSocketPanel).tick(now)
        self.overview.tick(now)

    # ------------------------------------------------------------------ actions

    @on(ActionRequested)
    def request_action(self, message: ActionRequested) -> None:
        if message.question is None:
            self.perform(message)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.perform(message)

        self.push_screen(ConfirmScreen(message.question), answered)

    @work(thread=True, group="action")
    def perform(self, request: ActionRequested) -> None:
        """Call the source's action in a thread, then report and poll its group again."""
        try:
            getattr(self.source, request.method)(*request.args)
        except KamtoolError as exc:
            self.post_message(ActionFinished(request.description, request.group, exc.message))
            return
        self.post_message(ActionFinished(request.description, request.group))

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(f"{message.description}: {message.error}", severity="error", timeout=8)
        else:
            self.notify(f"done: {message.description}", timeout=4)
        if not self.busy(message.group):
            getattr(self, f"poll_{message.group}")()

    def action_refresh(self) -> None:
        self.poll_all()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_trace(self) -> None:
        from kamtool.tui.widgets.trace_screen import TraceScreen

        if not self.is_screen_installed("trace"):
            self.install_screen(TraceScreen(self.hep), "trace")
        self.push_screen("trace")

    @on(CallsTable.RowSelected)
    def call_flow(self, event: CallsTable.RowSelected) -> None:
        """Enter on a call: its ladder, from the messages the HEP feed collected."""
        from kamtool.tui.widgets.trace_panel import ladder_for

        dialog = self.part(CallsTable).selected()
        if dialog is not None:
            self.push_screen(ladder_for(self.hep, dialog.call_id))

    def action_show_tab(self, tab: str) -> None:
        self.part(TabbedContent).active = tab
        pane = self.part(f"#{tab}", TabPane)
        # Focus must move into the new pane, or the tab switches back to the old focus.
        tables = [w for w in pane.query("DataTable") if w.focusable]
        others = [w for w in pane.query("*") if w.focusable]
        if tables or others:
            (tables or others)[0].focus()
