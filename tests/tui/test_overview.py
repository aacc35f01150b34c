"""The overview's parts without a screen: the event log, the idle-aware sparkline, and
the boxes of a monitor on an idle and on a busy server (tests/tui/scenes.py)."""

from __future__ import annotations

import pytest

from kamtool.tui.events import CRITICAL, OK, WARNING, EventLog
from kamtool.tui.health import Check
from kamtool.tui.source import Ban, Destination
from kamtool.tui.widgets.rate_line import BARS, IDLE, bars, is_idle
from tests.tui import scenes
from tests.tui.fake import make_app, prime_traffic, settle

pytestmark = pytest.mark.anyio


def dest(uri: str, state: str = "active", set_id: int = 1) -> Destination:
    return Destination(set_id, uri, "AP", state, False, 0, None, "")


# --------------------------------------------------------------------------- sparkline


def test_an_idle_window_is_dots_not_full_bars():
    assert bars([0.0, 0.0, 0.0], 5).plain == "  " + IDLE * 3
    assert bars([0.0], 3).plain == "  " + IDLE  # one sample: Textual drew a full bar
    assert is_idle([0.0, 0.0]) and not is_idle([0.0, 0.1])


def test_bars_scale_from_zero_to_the_peak():
    line = bars([0.0, 1.0, 4.0, 8.0], 4).plain
    assert line[0] == IDLE
    assert line[3] == BARS[-1] and line[2] == BARS[3] and line[1] == BARS[0]
    # the scale is the window's peak: a steady rate is a full line, a tiny one beside a
    # big one the lowest bar (never a dot: a dot means zero)
    assert set(bars([0.5, 0.5, 0.5], 3).plain) == {BARS[-1]}
    assert bars([0.1, 10.0], 2).plain == BARS[0] + BARS[-1]


def test_bars_keep_the_newest_values_when_the_window_is_wider():
    assert bars([1.0] * 10 + [0.0], 3).plain == BARS[-1] * 2 + IDLE


# --------------------------------------------------------------------------- event log


def test_error_counters_that_grow_are_events_merged_while_they_keep_growing():
    log = EventLog(merge_within=30)
    log.stats(0, {"sl:500_replies": 2, "core:drop_requests": 1})
    assert log.events == []  # the first sample is the baseline
    log.stats(2, {"sl:500_replies": 5, "core:drop_requests": 1})
    log.stats(4, {"sl:500_replies": 6, "core:drop_requests": 1})
    [event] = log.events
    assert (event.text, event.count, event.level, event.first, event.at) == (
        "5xx replies", 4, WARNING, 2, 4)  # fmt: skip
    log.stats(60, {"sl:500_replies": 7, "core:drop_requests": 3})
    assert [(e.text, e.count) for e in log.events] == [
        ("5xx replies", 1), ("dropped messages", 2), ("5xx replies", 4)]  # fmt: skip


def test_counters_going_back_are_one_event_not_negative_errors():
    log = EventLog()
    log.stats(0, {"sl:500_replies": 9})
    log.stats(2, {"sl:500_replies": 0})
    assert [e.text for e in log.events] == ["statistics went back: reset, or a restart"]


def test_bans_added_and_lifted():
    log = EventLog()
    log.bans(0, [Ban("10.0.0.1", "1", 300)])
    log.bans(2, [Ban("10.0.0.1", "1", 298), Ban("10.0.0.2", "1", 300)])
    log.bans(4, [Ban("10.0.0.2", "1", 296)])
    assert [(e.text, e.level) for e in log.events] == [
        ("ban of 10.0.0.1 lifted", OK), ("banned 10.0.0.2", CRITICAL)]  # fmt: skip


def test_a_changed_dispatcher_list_is_the_last_reload_and_state_changes_are_events():
    log = EventLog()
    log.uptime(100, 40)
    assert log.last_reload is not None and not log.last_reload.seen
    assert log.last_reload.at == 60  # the server's start
    log.dispatcher(100, [dest("sip:a"), dest("sip:b")])
    log.dispatcher(102, [dest("sip:a", "inactive"), dest("sip:b")])
    assert log.last_reload.at == 60
    log.dispatcher(104, [dest("sip:a", "inactive"), dest("sip:c")])
    assert log.last_reload.seen and log.last_reload.at == 104
    assert log.last_reload.text == "dispatcher reloaded: 2 → 2 destinations (+1 −1)"
    assert [e.text for e in log.events][1] == "sip:a (set 1) active → inactive"


def test_a_restart_is_seen_from_the_uptime():
    log = EventLog()
    log.uptime(1000, 500)
    log.uptime(1002, 502)
    assert log.events == []
    log.uptime(1004, 1)
    assert [e.text for e in log.events] == ["server restarted (up 1 s)"]
    assert log.last_reload.at == 1003


def test_health_changes_and_the_connection():
    log = EventLog()
    ok = Check("dispatcher", OK, "every destination up", "x")
    bad = Check("dispatcher", CRITICAL, "set 1: all 2 down", "x")
    log.health(0, [ok])
    assert log.events == []  # nothing wrong at first: nothing to say
    log.health(2, [bad])
    log.health(4, [bad])
    log.health(6, [ok])
    log.connection(8, "connection refused")
    log.connection(9, "connection refused")
    log.connection(10, None)
    assert [e.text for e in log.events] == [
        "the server answers again",
        "no answer: connection refused",
        "dispatcher back to OK: every destination up",
        "dispatcher CRITICAL: set 1: all 2 down",
    ]


# --------------------------------------------------------------------------- the app


async def test_an_idle_server_reads_idle_and_no_calls():
    app, source, clock = make_app()
    scenes.idle(source)
    prime_traffic(app, source, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        traffic = {name: str(label.render()) for name, (_, label) in
                   app.part("#traffic").lines.items()}  # fmt: skip
        assert set(traffic.values()) == {"idle"}
        overview = app.overview
        assert str(overview.calls.render()) == "no calls"
        assert str(overview.registrations.render()) == "no registrations"
        assert str(overview.bans.render()) == "no bans"
        assert overview.calls.border_title == "Calls now"
        # the tabs' tables say it under their header too
        for table, text in (("#calls-table", "no calls"), ("#reg-table", "no registrations"),
                            ("#bans-table", "no bans")):  # fmt: skip
            assert app.query_one(table).render_line(1).text.strip() == text


async def test_a_busy_server_fills_the_boxes_and_cuts_what_does_not_fit():
    app, source, _ = make_app()
    scenes.busy(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        overview = app.overview
        assert overview.calls.border_title == "Calls now: 8 (6 confirmed, 2 early)"
        assert len(overview.registrations.rows()) == 30
        assert overview.registrations.border_title == "Registrations: 30 contacts of 24 AoRs"
        shown = str(overview.registrations.render().renderables[-1])
        assert shown.startswith("… ") and shown.endswith("more (2 Registrations)")
        assert ("pike.top", ("ALL",)) in source.client.calls  # every tracked source, not HOT
        assert [r[0] for r in overview.sources.rows()] == [
            "203.0.113.7", "198.51.100.20", "198.51.100.25", "192.168.10.21", "192.168.10.22",
            "192.168.11.24",
        ]  # fmt: skip
        # every box is on screen: nothing of the overview needs scrolling at 120x40
        body = app.query_one("#overview-body")
        assert body.max_scroll_y == 0
        for box in ("#calls-glance", "#regs-glance", "#events", "#traffic", "#bans-glance"):
            assert app.query_one(box).region.bottom <= body.region.bottom


def test_since_start_lines_come_from_the_counters_the_server_publishes():
    from kamtool.tui.traffic import since_start

    stats = {
        "registrar:accepted_regs": 4, "registrar:rejected_regs": 1,
        "dialog:processed_dialogs": 5, "dialog:failed_dialogs": 1, "dialog:expired_dialogs": 0,
        "tmx:4xx_transactions": 3, "sl:404_replies": 2,
    }  # fmt: skip
    assert since_start(stats) == [
        ("Registrations", "4 accepted · 1 rejected"),
        ("Dialogs", "5 calls · 1 failed · 0 expired"),
        ("Final replies", "2xx 0 · 3xx 0 · 4xx 5 · 5xx 0 · 6xx 0"),
    ]
    # a server without registrar or dialog counters: only what it has
    assert [label for label, _ in since_start({"core:rcv_replies_4xx": 2})] == ["Final replies"]


async def test_a_refused_statistics_read_is_not_a_counter_reset():
    from kamtool.errors import RpcError

    app, source, clock = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        source.client.results["stats.get_statistics"] = RpcError(500, "stats not loaded")
        clock.now += 2.0
        app.poll_all()
        await settle(pilot)
        assert app.stats == {}
        assert not [e for e in app.events.events if e.kind.startswith(("counters", "errors"))]
