"""Snapshots at 80x24, 120x40 and 160x48 from the captured Kamailio answers (review the SVGs).

Update after an intended change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest

from tests.tui.snapshot_app import snapshot_case

SMALL, MEDIUM, LARGE = (80, 24), (120, 40), (160, 48)


@pytest.mark.parametrize(
    "keys",
    [("2",), ("3",), ("4",), ("5",)],
    ids=["registrations", "calls", "dispatcher", "security"],
)
def test_tabs_80x24(snap_compare, keys):
    app, run_before = snapshot_case(*keys)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


# At 160x48 the tables only gain empty rows; the widest one is enough.
def test_registrations_160x48(snap_compare):
    app, run_before = snapshot_case("2")
    assert snap_compare(app, terminal_size=LARGE, run_before=run_before)


# The overview on each size: the captures as they are; a busy server (tests/tui/scenes.py)
# polled twice, with errors, a ban and a dispatcher reload in between; an idle server.
@pytest.mark.parametrize("size", [SMALL, MEDIUM, LARGE], ids=["80x24", "120x40", "160x48"])
@pytest.mark.parametrize(
    "scene", [None, "busy", "idle"], ids=["captures", "busy", "idle"]
)
def test_overview(snap_compare, size, scene):
    app, run_before = snapshot_case(scene=scene, events=scene == "busy")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_filtered_registrations(snap_compare):
    app, run_before = snapshot_case("2", "slash", "1", "0", "0", "1", "enter")
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_confirm_end_call(snap_compare):
    app, run_before = snapshot_case("3", "e")
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_help(snap_compare):
    app, run_before = snapshot_case("question_mark")
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_server_down(snap_compare):
    app, run_before = snapshot_case("2", server_down=True)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("keys", [("2",), ("3",)], ids=["registrations", "calls"])
def test_idle_tabs_80x24(snap_compare, keys):
    app, run_before = snapshot_case(*keys, scene="idle")
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)
