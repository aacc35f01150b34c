"""``kamtool demo`` with its monitor, driven by a Textual pilot: the two phones and the
call show up, ending the call from the monitor sends BYE to both phones, and quitting
stops the proxy and removes its files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual.widgets import DataTable

from kamtool.cli.demo import monitor_app
from kamtool.ua.demo import run_demo
from tests.tui.fake import settle


async def until(predicate, timeout: float = 15.0) -> None:
    """Let the app poll (on its own timer) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the monitor never showed it"
        await asyncio.sleep(0.05)


def test_demo_monitor_shows_the_call_and_ends_it():
    seen: dict[str, object] = {}

    async def drive(lab) -> None:
        app = monitor_app(lab, interval=0.3)
        async with app.run_test(size=(120, 40)) as pilot:
            contacts = app.query_one("#reg-table", DataTable)
            calls = app.query_one("#calls-table", DataTable)
            await until(lambda: contacts.row_count == 2)
            seen["aors"] = sorted(contacts.get_row_at(i)[0] for i in range(2))
            await until(lambda: calls.row_count == 1 and calls.get_row_at(0)[2] == "confirmed")
            seen["call"] = calls.get_row_at(0)[:2]
            overview = app.overview  # the first tab says the same
            seen["overview"] = (overview.calls.border_title, len(overview.registrations.rows()))
            await pilot.press("3", "e", "y")  # end the call: the proxy sends BYE both ways
            await settle(pilot)
            await until(lambda: calls.row_count == 0 or calls.get_row_at(0)[2] == "deleted")
            await pilot.press("q")
        seen["dir"] = lab.dir

    outcome = run_demo(monitor=lambda lab: asyncio.run(drive(lab)))
    assert seen["aors"] == ["1001", "1002"]
    assert seen["call"] == ["sip:1001@127.0.0.1", "sip:1002@127.0.0.1"]
    assert seen["overview"] == ("Calls now: 1 (1 confirmed)", 2)
    # the call was over before the demo would have hung up: no BYE of its own
    assert (outcome.call_status, outcome.ended_by, outcome.bye_status) == (200, "them", None)
    got_bye = {(r["to"], r["message"].split()[0]) for r in outcome.trace if r["from"] == "proxy"}
    assert {("1001", "BYE"), ("1002", "BYE")} <= got_bye
    answered = {r["from"] for r in outcome.trace if r["message"] == "200 OK (BYE)"}
    assert answered == {"1001", "1002"}
    assert not Path(str(seen["dir"])).exists()
