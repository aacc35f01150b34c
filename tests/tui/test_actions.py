"""Pilot tests: every key of the monitor reaches the source with the right call."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import DataTable, TabbedContent

from kamtool.errors import RpcError
from kamtool.tui.messages import ActionFinished
from kamtool.tui.widgets.confirm_screen import ConfirmScreen
from kamtool.tui.widgets.help_screen import HelpScreen
from kamtool.tui.widgets.status_header import StatusHeader
from tests.tui.fake import make_app, settle

SIZE = (100, 30)

pytestmark = pytest.mark.anyio


async def test_remove_contact_asks_then_calls_ul_rm_contact():
    app, source, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        table = app.query_one("#reg-table", DataTable)
        assert table.has_focus and table.row_count == 4
        await pilot.press("down", "down", "down", "d")  # 1001's TCP contact
        assert isinstance(app.screen, ConfirmScreen)
        assert "sip:1001@127.0.0.1:5067" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert source.client.actions() == [
            ("ul.rm_contact", ("location", "1001", "sip:1001@127.0.0.1:5067"))
        ]
        # the registrations were read again after the action
        assert source.client.calls[-1] == ("ul.dump", ())


async def test_declining_the_confirmation_calls_nothing():
    app, source, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("3", "e", "escape")
        await settle(pilot)
        assert source.client.actions() == []


async def test_end_call_asks_then_calls_dlg_end_dlg():
    app, source, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        assert app.query_one("#calls-table", DataTable).row_count == 3
        await pilot.press("down", "down", "e")
        assert isinstance(app.screen, ConfirmScreen)
        assert "1-12441@127.0.0.1" in app.screen.question
        await pilot.click("#yes")
        await settle(pilot)
        assert source.client.actions() == [("dlg.end_dlg", (4009, 947))]


async def test_dispatcher_set_inactive_and_active_keep_probing():
    app, source, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await pilot.press("i")  # set 1, sip:127.0.0.1:5062 (AP)
        await settle(pilot)
        await pilot.press("down", "a")  # set 1, sip:127.0.0.1:5063 (IP)
        await settle(pilot)
        assert source.client.actions() == [
            ("dispatcher.set_state", ("ip", 1, "sip:127.0.0.1:5062")),
            ("dispatcher.set_state", ("ap", 1, "sip:127.0.0.1:5063")),
        ]


async def test_failed_action_is_reported():
    app, source, _ = make_app()
    source.client.results["dlg.end_dlg"] = RpcError(404, "Dialog not found")
    finished: list[ActionFinished] = []

    def hook(message):
        if isinstance(message, ActionFinished):
            finished.append(message)

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        await pilot.press("3", "e", "y")
        await settle(pilot)
    assert [m.error for m in finished] == ["no dialog 3145:3692"]


async def test_filter_narrows_the_registrations():
    app, _, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "slash")
        await pilot.press(*"5067")
        table = app.query_one("#reg-table", DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0)[1] == "sip:1001@127.0.0.1:5067"
        await pilot.press("escape")
        assert table.row_count == 4


async def test_countdowns_move_with_the_clock_without_polling():
    app, source, clock = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        reads = len(source.client.calls)
        contacts = app.query_one("#reg-table", DataTable)
        calls = app.query_one("#calls-table", DataTable)
        assert contacts.get_cell("uloc-6b0819e5-2902-3", "expires") == "8m01s"
        assert calls.get_cell("4009:947", "duration") == "1m30s"
        clock.now += 61
        app.tick()
        assert contacts.get_cell("uloc-6b0819e5-2902-3", "expires") == "7m00s"
        assert calls.get_cell("4009:947", "duration") == "2m31s"
        assert len(source.client.calls) == reads


async def test_tabs_help_refresh_and_quit_keys():
    app, source, _ = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tabs = app.query_one(TabbedContent)
        for key, tab in zip("54321", ("security", "dispatcher", "calls", "registrations",
                                      "overview"), strict=True):  # fmt: skip
            await pilot.press(key)
            assert tabs.active == tab
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        before = sum(1 for c in source.client.calls if c[0] == "ul.dump")
        await pilot.press("r")
        await settle(pilot)
        assert sum(1 for c in source.client.calls if c[0] == "ul.dump") == before + 1
        await pilot.press("q")
    assert app.return_code == 0


async def test_lost_connection_shows_and_recovers_by_itself():
    app, source, clock = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = app.query_one(StatusHeader)
        assert header.connected is True
        source.client.down = True
        app.poll_all()
        await settle(pilot)
        assert header.connected is False
        assert "unreachable" in str(header.render())
        assert app.screen.has_class("-offline")
        assert app.checks[0].level == "CRITICAL"
        source.client.down = False
        clock.now += 2
        app.poll_all()
        await settle(pilot)
        assert header.connected is True
        assert not app.screen.has_class("-offline")
        assert app.checks[0].level == "OK"


async def test_a_slow_server_does_not_freeze_the_ui():
    app, source, _ = make_app()
    release = threading.Event()
    blocked = threading.Event()

    def slow(method, params):
        if method == "ul.dump" and not release.is_set():
            blocked.set()
            release.wait(10)

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        source.client.on_call = slow
        app.poll_all()
        await pilot.pause()
        assert blocked.wait(5)
        # while ul.dump hangs, keys still work and other panels still poll
        await pilot.press("3")
        assert app.query_one(TabbedContent).active == "calls"
        app.poll_all()  # the stuck group is skipped, not piled up
        await pilot.pause()
        assert sum(1 for w in app.workers if w.group == "contacts") == 1
        release.set()
        await settle(pilot)


async def test_a_missing_module_is_shown_not_fatal():
    app, source, _ = make_app()
    source.client.results["dlg.list"] = RpcError(500, "Method Not Found")
    source.client.results["pike.top"] = RpcError(500, "Method Not Found")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.query_one(StatusHeader).connected is True
        await pilot.press("3")
        note = app.query_one("#calls-note")
        assert note.display and "Method Not Found" in str(note.render())
        assert "not available" in str(app.query_one("#pike-title").render())
        assert app.query_one("#bans-table", DataTable).row_count == 2
