"""Snapshots at 80x24 and 160x48 from the captured Kamailio answers (review the SVGs).

Update after an intended change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest

from tests.tui.snapshot_app import snapshot_case

SMALL, LARGE = (80, 24), (160, 48)


@pytest.mark.parametrize(
    "keys",
    [(), ("2",), ("3",), ("4",), ("5",)],
    ids=["overview", "registrations", "calls", "dispatcher", "security"],
)
def test_tabs_80x24(snap_compare, keys):
    app, run_before = snapshot_case(*keys)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


# At 160x48 the tables only gain empty rows; the overview and the widest table are enough.
@pytest.mark.parametrize("keys", [(), ("2",)], ids=["overview", "registrations"])
def test_tabs_160x48(snap_compare, keys):
    app, run_before = snapshot_case(*keys)
    assert snap_compare(app, terminal_size=LARGE, run_before=run_before)


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
