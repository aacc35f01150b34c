"""The monitor against kamtool's own proxy: SIPp registers and calls, the monitor polls
them on its own timer and ends the call, which sends BYE to both SIPp sides."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import DataTable

from kamtool.tui.app import MonitorApp
from kamtool.tui.source import rpc_source
from tests.proxy.conftest import USERS, need, proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.proxy.harness import explain, sipp, sipp_background
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
    reg = sipp("register.xml", proxy.port, uas_port, service="1002",
               auth=("1002", USERS["1002"]), variables={"expires": "600"})  # fmt: skip
    assert reg.returncode == 0, explain(reg)
    uas = sipp_background("uas_answer.xml", proxy.port, uas_port)
    uac = sipp_background("uac_wait_bye.xml", proxy.port, free_port(), service="1002",
                          auth=("1001", USERS["1001"]), variables={"caller": "1001"})  # fmt: skip
    try:
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
        # both SIPp sides got their BYE and finished their scenario
        assert uac.wait(20) == 0, uac.communicate()[0][-3000:]
        assert uas.wait(20) == 0, uas.communicate()[0][-3000:]
    finally:
        uac.kill()
        uas.kill()
