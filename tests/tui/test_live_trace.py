"""The monitor's HEP feed against kamtool's own proxy: the feed asks the proxy for its
messages (siptrace.dest_add), SIPp calls, and Enter on the call in the Calls tab shows
its ladder from what was collected; tracing is undone when the feed stops."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from kamtool.tui.app import MonitorApp
from kamtool.tui.hep_feed import HepFeed
from kamtool.tui.source import rpc_source
from kamtool.tui.widgets.ladder_screen import LadderScreen
from tests.proxy.conftest import need, proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.proxy.harness import caller_args, register, sipp_peer
from tests.support.ports import free_port
from tests.tui.fake import settle
from tests.tui.test_live_proxy import INTERVAL, until

pytestmark = [pytest.mark.sipp, pytest.mark.anyio]


async def test_enter_on_a_live_call_shows_its_ladder_from_the_proxys_hep(
    start_proxy,  # noqa: F811 (the proxy tests' fixture, imported above)
    tmp_path,
):
    need("sipp")
    rpc_port = free_port()
    proxy = start_proxy(rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"))
    source = rpc_source(f"http://127.0.0.1:{rpc_port}/RPC", timeout=5)
    feed = HepFeed("127.0.0.1", free_port(), rpc=source)
    feed.start()
    try:
        uas_port = free_port()
        register(proxy.port, "1002", uas_port)
        with (
            sipp_peer("uas_answer.xml", proxy.port, uas_port),
            sipp_peer("uac_wait_bye.xml", proxy.port, free_port(), **caller_args()),
        ):
            app = MonitorApp(source, interval=INTERVAL, hep=feed)
            async with app.run_test(size=(120, 40)) as pilot:
                calls = app.query_one("#calls-table", DataTable)
                await until(lambda: calls.row_count == 1 and calls.get_row_at(0)[2] == "confirmed")
                await pilot.press("3", "enter")
                await settle(pilot)
                screen = app.screen
                assert isinstance(screen, LadderScreen)
                flow = [m.first_line.split(" ")[0] if m.status is None else m.status
                        for m in screen.messages]  # fmt: skip
                # (on a loaded machine SIPp retransmits the first INVITE: another 407 pair)
                while flow[2:4] == ["INVITE", 407]:
                    del flow[2:4]
                # caller -> proxy: INVITE, 407, ACK, INVITE, 100; proxy -> callee: INVITE
                assert flow[:5] == ["INVITE", 407, "ACK", "INVITE", 100] and "INVITE" in flow[5:]
                # each 180/200 once on each leg; a 200 comes again while its ACK is on the
                # way (RFC 3261 13.3.1.4), so a loaded machine may show it more often
                assert flow.count(180) == 2 and "ACK" in flow[5:]
                assert flow.count(200) >= 2
                await pilot.press("escape")
                await pilot.press("e", "y")  # end the call: both SIPp sides get their BYE
                await settle(pilot)
                await until(lambda: calls.row_count == 0 or calls.get_row_at(0)[2] == "deleted")
    finally:
        feed.stop()
    with pytest.raises(Exception, match="Destination not found"):
        source.call("siptrace.dest_rm", feed.uri)  # the feed removed its destination
