"""The monitor's WebSocket connections (``ws.dump``), from the answers Kamailio 5.6's
websocket module gives (the lines below are a real Kamailio's, ports and all)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from kamtool.core.runtime.websocket import dump, parse_line
from kamtool.tui.report import once_report, render_text
from kamtool.tui.widgets.confirm_screen import ConfirmScreen
from kamtool.tui.widgets.websockets import WebSocketPanel
from tests.tui.fake import make_app, settle
from tests.tui.snapshot_app import snapshot_case

# Kamailio 5.6.3 (websocket + xhttp), two clients; the second's keepalive Ping unanswered
KAMAILIO_WS_DUMP = {
    "connections": [
        "2: ws:127.0.0.1:58636 -> ws:127.0.0.1:18081 (state: OPEN,  last used 2s ago, "
        "sub-protocol: sip)",
        "1: wss:10.0.0.7:58622 -> wss:127.0.0.1:18443 (state: OPEN, awaiting Pong, "
        "last used 31s ago, sub-protocol: sip)",
    ],
    "info": {"wscounter": 2, "truncated": "no"},
}


class Answers:
    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def call(self, method, *params):
        self.calls.append((method, params))
        return self.answer


def test_kamailios_lines_parse():
    rows = dump(Answers(KAMAILIO_WS_DUMP))["rows"]
    assert rows == [
        {"id": 2, "proto": "ws", "source": "127.0.0.1:58636", "local": "127.0.0.1:18081",
         "state": "OPEN", "awaiting_pong": False, "idle": 2, "subprotocol": "sip"},
        {"id": 1, "proto": "wss", "source": "10.0.0.7:58622", "local": "127.0.0.1:18443",
         "state": "OPEN", "awaiting_pong": True, "idle": 31, "subprotocol": "sip"},
    ]  # fmt: skip


def test_ipv6_and_odd_lines():
    row = parse_line("7: ws:::1:40000 -> ws:::1:8080 (state: CLOSING,  last used 0s ago, "
                     "sub-protocol: sip)")  # fmt: skip
    assert row is not None
    assert (row["source"], row["local"], row["state"]) == ("::1:40000", "::1:8080", "CLOSING")
    assert parse_line("garbage") is None
    answer = {"connections": ["nonsense", KAMAILIO_WS_DUMP["connections"][0]],
              "info": {"wscounter": 2, "truncated": "yes"}}  # fmt: skip
    out = dump(Answers(answer))
    assert [r["id"] for r in out["rows"]] == [2] and out["truncated"] is True
    assert dump(Answers(None)) == {"rows": [], "truncated": False}


def test_once_report_has_the_connections_or_none_without_websocket():
    _, source, _ = make_app()
    report = once_report(source)
    assert report["websockets"] is None  # the captured Kamailio has no websocket module
    assert "websockets" not in report["errors"]
    assert "WebSocket" not in render_text(report)
    source.client.results["ws.dump"] = KAMAILIO_WS_DUMP
    report = once_report(source)
    assert [w["id"] for w in report["websockets"]] == [2, 1]
    assert report["websockets"][1]["awaiting_pong"] is True
    assert "WebSocket connections 2" in render_text(report)
    assert ("ws.dump", ("used_asc",)) in source.client.calls


@pytest.mark.anyio
async def test_panel_hidden_without_websocket_and_closes_a_connection():
    app, source, clock = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        panel = app.query_one(WebSocketPanel)
        assert not panel.display  # no ws.dump on this server
        source.client.results["ws.dump"] = KAMAILIO_WS_DUMP
        source.client.results["ws.close"] = None
        app.poll_all()
        await settle(pilot)
        assert panel.display
        table = app.query_one("#ws-table", DataTable)
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == ["2", "1"]
        assert table.get_row_at(1)[4] == "OPEN, awaiting Pong"
        clock.now += 60
        app.tick()
        assert table.get_row_at(0)[5] == "1m02s"  # idle time moves on between polls
        table.focus()
        await pilot.press("down", "w")
        assert isinstance(app.screen, ConfirmScreen)
        assert "10.0.0.7:58622" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert source.client.actions() == [("ws.close", (1,))]
        assert source.client.calls[-1] == ("ws.dump", ("used_asc",))  # read again


def test_registrations_with_websockets_80x24(snap_compare):
    app, run_before = snapshot_case("2")
    app.source.client.results["ws.dump"] = KAMAILIO_WS_DUMP
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
