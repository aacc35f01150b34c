"""The monitor's HEP side: the ladder diagram (sngrep's call flow) of a call with
INVITE/407/ACK/INVITE/100/180/200/ACK/BYE/200 through the server, opened with Enter on
the Calls tab (snapshots at 120x40 and 160x48), the Trace screen and its filter, and the
HEP feed on a real socket with the server's tracing switched on and off."""

from __future__ import annotations

import socket
import time

import pytest

from kamtool.core.trace import TracedMessage
from kamtool.sip.hep import HepPacket, encode_hep3
from kamtool.tui.hep_feed import HepFeed, TraceStore
from kamtool.tui.ladder import render
from kamtool.tui.widgets.trace_panel import parse_filter
from tests.support.ports import free_port
from tests.tui.fake import make_app, settle

CALLER, PROXY, CALLEE = ("127.0.0.1", 5070), ("127.0.0.1", 5060), ("127.0.0.1", 5064)
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" \
      "m=audio 6000 RTP/AVP 0\r\n"
T0 = 1795693200  # a few seconds before the captures' clock


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Times in the ladder are local: fix the zone so snapshots match everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def sip(first: str, call_id: str, cseq: str, body: str = "") -> bytes:
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{first}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{cseq.replace(' ', '')}\r\n"
        f"From: <sip:1001@127.0.0.1>;tag=12180SIPpTag00\r\nTo: <sip:1002@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq}\r\n{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def flow(call_id: str) -> list[TracedMessage]:
    """1001 calls 1002 through the server: challenged, then answered and hung up."""
    steps = [
        ("INVITE sip:1002@127.0.0.1 SIP/2.0", "1 INVITE", CALLER, PROXY, SDP),
        ("SIP/2.0 407 Proxy Authentication Required", "1 INVITE", PROXY, CALLER, ""),
        ("ACK sip:1002@127.0.0.1 SIP/2.0", "1 ACK", CALLER, PROXY, ""),
        ("INVITE sip:1002@127.0.0.1 SIP/2.0", "2 INVITE", CALLER, PROXY, SDP),
        ("SIP/2.0 100 trying -- your call is important to us", "2 INVITE", PROXY, CALLER, ""),
        ("INVITE sip:1002@127.0.0.1:5064 SIP/2.0", "2 INVITE", PROXY, CALLEE, SDP),
        ("SIP/2.0 180 Ringing", "2 INVITE", CALLEE, PROXY, ""),
        ("SIP/2.0 180 Ringing", "2 INVITE", PROXY, CALLER, ""),
        ("SIP/2.0 200 OK", "2 INVITE", CALLEE, PROXY, SDP),
        ("SIP/2.0 200 OK", "2 INVITE", PROXY, CALLER, SDP),
        ("ACK sip:1002@127.0.0.1:5064 SIP/2.0", "2 ACK", CALLER, PROXY, ""),
        ("ACK sip:1002@127.0.0.1:5064 SIP/2.0", "2 ACK", PROXY, CALLEE, ""),
        ("BYE sip:1002@127.0.0.1:5064 SIP/2.0", "3 BYE", CALLER, PROXY, ""),
        ("BYE sip:1002@127.0.0.1:5064 SIP/2.0", "3 BYE", PROXY, CALLEE, ""),
        ("SIP/2.0 200 OK", "3 BYE", CALLEE, PROXY, ""),
        ("SIP/2.0 200 OK", "3 BYE", PROXY, CALLER, ""),
    ]
    return [
        TracedMessage.from_hep(HepPacket(sip(first, call_id, cseq, body), src[0], src[1],
                                         dst[0], dst[1], T0 + i // 4, 1000 * (i * 37 % 1000)))
        for i, (first, cseq, src, dst, body) in enumerate(steps)
    ]  # fmt: skip


class FakeFeed:
    """What the app needs of a HepFeed, with the flows of the captured dialogs stored."""

    uri = "udp:127.0.0.1:9060"
    error = None
    on_batch = None

    def __init__(self, call_ids=("1-12442@127.0.0.1", "1-12180@127.0.0.1", "1-12441@127.0.0.1")):
        self.store = TraceStore()
        for call_id in call_ids:
            self.store.add(flow(call_id))


def test_the_ladder_has_a_column_per_address_and_an_arrow_per_message():
    ladder = render(flow("c1"), 120)
    assert ladder.columns == ["127.0.0.1:5070", "127.0.0.1:5060", "127.0.0.1:5064"]
    assert len(ladder.rows) == 16
    first, challenge = ladder.rows[0], ladder.rows[1]
    assert first.startswith("11:40:00.000") and "INVITE (SDP)" in first and "▶" in first
    assert "◀" in challenge and "Proxy Authentication Required" in challenge
    # the relayed INVITE goes from the middle column to the right one
    x = [ladder.header.index(c) + len(c) // 2 for c in ladder.columns]
    relayed = ladder.rows[5]
    assert relayed.index("─") > x[1] - 2 and relayed.rindex("▶") < x[2]
    for row in ladder.rows:
        assert len(row) <= 120 and row.count("│") >= 1
    narrow = render(flow("c1"), 40)  # too narrow: columns keep a minimum gap
    assert len(narrow.rows) == 16


@pytest.mark.parametrize("size", [(120, 40), (160, 48)], ids=["120x40", "160x48"])
def test_enter_on_a_call_opens_its_ladder(snap_compare, size):
    app, _, _ = make_app(primed=True)
    app.hep = FakeFeed()

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("3", "down", "enter")  # the second dialog: 1001 -> 1002
        await pilot.pause()
        await pilot.press("down", "down", "down", "down", "down")  # the relayed INVITE
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.anyio
async def test_the_trace_screen_lists_filters_and_opens_ladders():
    from textual.widgets import DataTable, Input

    from kamtool.tui.widgets.ladder_screen import LadderScreen

    app, _, _ = make_app()
    app.hep = FakeFeed(("call-a", "call-b"))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await pilot.pause()
        table = app.screen.query_one("#trace-table", DataTable)
        assert table.row_count == 32
        box = app.screen.query_one("#trace-filter", Input)
        box.value = "callid=call-b method=BYE"
        await box.action_submit()
        await pilot.pause()
        assert table.row_count == 4  # the BYE relayed, and its 200 relayed back
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LadderScreen) and app.screen.call_id == "call-b"
        assert len(app.screen.messages) == 16  # the ladder shows the whole call
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, LadderScreen)


def test_filter_syntax():
    f = parse_filter("caller=1001 method=INVITE")
    assert (f.caller, f.method, f.callee) == ("1001", "INVITE", None)
    for bad in ("caller", "who=1", "ip="):
        with pytest.raises(ValueError):
            parse_filter(bad)


class RecordingRpc:
    def __init__(self):
        self.calls = []

    def call(self, method, *params):
        self.calls.append((method, *params))
        return "Disabled" if params == ("check",) else "Enabled"


def test_the_feed_collects_hep_and_switches_tracing_on_and_off():
    port = free_port()
    rpc = RecordingRpc()
    feed = HepFeed("127.0.0.1", port, rpc=rpc)
    got = []
    feed.on_batch = got.extend
    feed.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for msg in flow("feed-1"):
                s.sendto(encode_hep3(msg.hep), ("127.0.0.1", port))
        deadline = time.monotonic() + 10
        while len(got) < 16 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        feed.stop()
    assert [m.first_line for m in got] == [m.first_line for m in flow("feed-1")]
    assert len(feed.store.call("feed-1")) == 16
    uri = f"udp:127.0.0.1:{port}"
    assert rpc.calls == [("siptrace.dest_add", uri), ("siptrace.status", "check"),
                         ("siptrace.status", "on"), ("siptrace.status", "off"),
                         ("siptrace.dest_rm", uri)]  # fmt: skip
