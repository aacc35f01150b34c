"""The monitor against a real Kamailio 5.6: --once --json and actions from the live app."""

from __future__ import annotations

import subprocess

import pytest
from textual.widgets import DataTable

from kamtool.tui.app import MonitorApp
from kamtool.tui.source import rpc_source
from tests.support.cli import invoke
from tests.tui.fake import settle

pytestmark = [pytest.mark.kamailio, pytest.mark.anyio]


def register(kamailio, user: str, port: int, expires: int = 600) -> None:
    """REGISTER ``user`` with contact 127.0.0.1:``port`` through sipsak (digest auth)."""
    done = subprocess.run(
        ["sipsak", "-U", "-C", f"sip:{user}@127.0.0.1:{port}",
         "-s", f"sip:{user}@127.0.0.1:{kamailio.sip_port}",
         "-a", f"secret{user}", "-x", str(expires)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_once_json_shows_the_registered_contacts_over_http_and_fifo(kamailio):
    register(kamailio, "1001", 5999)
    register(kamailio, "1002", 5998, expires=120)
    kamailio.rpc("htable.sets", "ipban", "10.9.9.9", "manual")
    for url in (kamailio.rpc_http_url, f"fifo:{kamailio.fifo_path}"):
        r = invoke("monitor", "--once", "--json", "--rpc", url)
        assert r.exit_code == 0, r.stdout + r.stderr
        data = r.json()
        assert data["target"] == url
        assert data["version"].startswith("kamailio 5.6")
        contacts = {(c["aor"], c["address"]): c for c in data["contacts"]}
        assert set(contacts) == {
            ("1001", "sip:1001@127.0.0.1:5999"),
            ("1002", "sip:1002@127.0.0.1:5998"),
        }
        assert 100 < contacts[("1002", "sip:1002@127.0.0.1:5998")]["expires"] <= 120
        assert contacts[("1001", "sip:1001@127.0.0.1:5999")]["user_agent"].startswith("sipsak")
        assert {(d["set_id"], d["uri"]) for d in data["dispatcher"]} >= {(1, "sip:127.0.0.1:5062")}
        ban = next(b for b in data["bans"] if b["address"] == "10.9.9.9")
        assert 250 <= ban["expires"] <= 300  # the cfg's ipban autoexpire is 300 s
        assert data["stats"]["core:rcv_requests"] >= 4  # two REGISTERs, each challenged once
        assert data["transactions"]["current"] >= 0
        assert {h["name"] for h in data["health"]} >= {"connection", "dispatcher", "shared memory"}
        assert data["errors"] == {}


async def test_live_app_removes_a_contact_and_deactivates_a_destination(kamailio):
    register(kamailio, "1003", 5997)
    app = MonitorApp(rpc_source(kamailio.rpc_http_url, timeout=5), interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        table = app.query_one("#reg-table", DataTable)
        assert [table.get_row_at(i)[1] for i in range(table.row_count)] == [
            "sip:1003@127.0.0.1:5997"
        ]
        await pilot.press("d", "y")
        await settle(pilot)
        assert table.row_count == 0  # polled again after the action
        await pilot.press("4")
        dests = app.query_one("#dispatcher-table", DataTable)
        assert dests.row_count >= 2
        await pilot.press("i")  # first destination of set 1
        await settle(pilot)
    assert "AoRs" in str(kamailio.rpc("ul.dump"))
    with pytest.raises(RuntimeError, match="not found|no contacts"):
        kamailio.rpc("ul.lookup", "location", "1003")
    flags = {
        t["DEST"]["URI"]: t["DEST"]["FLAGS"]
        for s in kamailio.rpc("dispatcher.list")["RECORDS"]
        for t in s["SET"]["TARGETS"]
    }
    assert flags["sip:127.0.0.1:5062"].startswith("I")


async def test_live_overview_shows_contacts_bans_and_a_dispatcher_reload(kamailio):
    """The overview on a real Kamailio: the contact and the ban now, then a ban and a
    dispatcher reload made between two polls show as events, the reload as the last one."""
    register(kamailio, "1002", 5996)
    kamailio.rpc("htable.sets", "ipban", "10.9.9.7", "manual")
    app = MonitorApp(rpc_source(kamailio.rpc_http_url, timeout=5), interval=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        overview = app.overview
        assert [row[1] for row in overview.registrations.rows()] == ["1002@127.0.0.1:5996"]
        assert [row[0] for row in overview.bans.rows()] == ["10.9.9.7"]
        assert overview.calls.rows() == [] and "no calls" in str(overview.calls.render())
        assert not app.events.last_reload.seen  # only the server's start so far
        kamailio.rpc("htable.sets", "ipban", "10.9.9.8", "manual")
        r = invoke("--db", kamailio.db_url, "dispatcher", "add", "1", "sip:127.0.0.1:5077",
                   "--no-reload")  # fmt: skip
        assert r.exit_code == 0, r.stderr
        kamailio.rpc("dispatcher.reload")
        await pilot.press("r")
        await settle(pilot)
        texts = [e.text for e in app.events.events]
        assert "banned 10.9.9.8" in texts
        reload = app.events.last_reload
        assert reload.seen and reload.text.startswith("dispatcher reloaded")
        assert "(+1 −0)" in reload.text
        shown = str(overview.events.render())
        assert "dispatcher reloaded" in shown and "banned 10.9.9.8" in shown
