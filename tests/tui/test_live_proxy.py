"""The monitor against kamtool's own proxy: SIPp registers and calls, the monitor polls
them on its own timer and ends the call, which sends BYE to both SIPp sides."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import DataTable

from kamtool.tui.app import MonitorApp
from kamtool.tui.source import rpc_source
from tests.proxy.conftest import need, proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.proxy.harness import caller_args, register, sipp_peer
from tests.support.ports import free_port
from tests.tui.fake import settle

pytestmark = [pytest.mark.sipp, pytest.mark.anyio]

INTERVAL = 0.5


async def until(predicate, timeout: float = 15.0) -> None:
    """Let the app run (and poll on its own timer) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the monitor never showed it"
        await asyncio.sleep(0.05)


async def test_monitor_shows_registrations_and_calls_and_ends_the_call(
    start_proxy,  # noqa: F811 (the proxy tests' fixture, imported above)
    tmp_path,
):
    need("sipp")
    rpc_port = free_port()
    proxy = start_proxy(rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"))
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    # both SIPp sides must get their BYE and finish their scenario
    with (
        sipp_peer("uas_answer.xml", proxy.port, uas_port),
        sipp_peer("uac_wait_bye.xml", proxy.port, free_port(), **caller_args()),
    ):
        source = rpc_source(f"http://127.0.0.1:{rpc_port}/RPC", timeout=5)
        app = MonitorApp(source, interval=INTERVAL)
        async with app.run_test(size=(120, 40)) as pilot:
            contacts = app.query_one("#reg-table", DataTable)
            calls = app.query_one("#calls-table", DataTable)
            await until(lambda: contacts.row_count == 1)
            assert contacts.get_row_at(0)[0] == "1002"
            assert f"@127.0.0.1:{uas_port}" in contacts.get_row_at(0)[1]
            await until(lambda: calls.row_count == 1 and calls.get_row_at(0)[2] == "confirmed")
            assert calls.get_row_at(0)[:2] == ["sip:1001@127.0.0.1", "sip:1002@127.0.0.1"]
            await pilot.press("3", "e", "y")
            await settle(pilot)
            await until(lambda: calls.row_count == 0 or calls.get_row_at(0)[2] == "deleted")
