"""kamtool.proxy.stats: Kamailio's default names, selectors, reset and clear."""

from __future__ import annotations

import json

from kamtool.proxy.stats import Counter, Statistics
from tests.rpcserver.captures import capture


def test_default_names_match_kamailio_all() -> None:
    expected = [line.split(" = ")[0] for line in capture("stats.get_statistics.all")["result"]]
    got = [f"{g}:{n}" for g, n, _ in Statistics().items() if g != "shmem"]
    assert got == [name for name in expected if not name.startswith("shmem:")]
    assert [n for g, n, _ in Statistics().items() if g == "shmem"] == [
        name.split(":")[1] for name in expected if name.startswith("shmem:")
    ]


def test_counter_bump_and_selectors() -> None:
    stats = Statistics()
    c = stats.counter("core", "rcv_requests")
    assert isinstance(c, Counter) and stats.counter("core", "rcv_requests") is c
    c.value += 3
    assert stats.select("rcv_requests") == [("core", "rcv_requests", 3)]
    assert stats.select("core:rcv_requests") == [("core", "rcv_requests", 3)]
    assert stats.select("nosuchstat") == [] and stats.select("tm:") == []
    assert [n for _, n, _ in stats.select("dialog:")] == [
        "active_dialogs",
        "early_dialogs",
        "expired_dialogs",
        "failed_dialogs",
        "processed_dialogs",
    ]
    multi = stats.select_many(["rcv_requests", "usrloc:", "active_dialogs"])
    assert [f"{g}:{n}" for g, n, _ in multi][0] == "core:rcv_requests"
    assert multi[-1][:2] == ("dialog", "active_dialogs") and len(multi) == 6


def test_gauge_replaces_counter_and_is_not_reset() -> None:
    stats = Statistics()
    users = [5]
    stats.gauge("usrloc", "registered_users", lambda: users[0])
    assert stats.value("usrloc", "registered_users") == 5
    users[0] = 7
    stats.reset("usrloc:")
    assert stats.value("usrloc", "registered_users") == 7


def test_reset_and_clear() -> None:
    stats = Statistics()
    stats.counter("core", "fwd_requests").value = 3
    stats.counter("sl", "200_replies").value = 47
    stats.reset("sl:")
    assert stats.value("sl", "200_replies") == 47  # sl counters survive a reset, as in Kamailio
    stats.reset("all")
    assert stats.value("core", "fwd_requests") == 0
    stats.counter("core", "fwd_requests").value = 3
    assert stats.clear("fwd_requests") == [("core", "fwd_requests", 0, 3)]
    assert json.dumps(stats.value("core", "fwd_requests")) == "0"


def test_broken_gauge_reads_zero() -> None:
    stats = Statistics()
    stats.gauge("x", "y", lambda: 1 // 0)
    assert stats.select("x:") == [("x", "y", 0)]
