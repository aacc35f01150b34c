"""The monitor over real sockets: a dead endpoint, one that never answers, and recovery."""

from __future__ import annotations

import socket

import pytest
from textual.widgets import DataTable, TabbedContent

from kamtool.tui.app import MonitorApp
from kamtool.tui.source import rpc_source
from kamtool.tui.widgets.status_header import StatusHeader
from tests.support.cli import invoke
from tests.support.ports import free_port
from tests.tui.capture_server import capture_server
from tests.tui.fake import settle
from tests.tui.test_once import KEYS

pytestmark = pytest.mark.anyio


async def test_dead_endpoint_shows_unreachable_then_recovers_by_itself():
    port = free_port()
    app = MonitorApp(rpc_source(f"http://127.0.0.1:{port}/RPC", timeout=2), interval=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        header = app.query_one(StatusHeader)
        assert header.connected is False and "unreachable" in str(header.render())
        assert app.checks[0].level == "CRITICAL"
        with capture_server(port) as server:
            app.poll_all()
            await settle(pilot)
            assert header.connected is True
            assert app.query_one("#reg-table", DataTable).row_count == 4
            assert ("ul.dump", ()) in server.calls
        assert app.checks[0].level == "OK"


async def test_endpoint_that_never_answers_times_out_and_the_ui_stays_live():
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/RPC"
        app = MonitorApp(rpc_source(url, timeout=1), interval=None)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("3")  # the polls hang meanwhile; keys still work
            assert app.query_one(TabbedContent).active == "calls"
            await settle(pilot)
            header = app.query_one(StatusHeader)
            assert header.connected is False
            assert url in header.error or "time" in header.error.lower()


def test_once_json_over_http():
    port = free_port()
    with capture_server(port) as server:
        r = invoke("monitor", "--once", "--json", "--rpc", f"http://127.0.0.1:{port}/RPC")
    assert r.exit_code == 0, r.stdout + r.stderr
    data = r.json()
    assert set(data) == KEYS
    assert len(data["contacts"]) == 4 and len(data["dialogs"]) == 3
    assert ("dispatcher.list", ()) in server.calls
