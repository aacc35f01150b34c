"""Health rules and traffic rates: pure functions over what the monitor read."""

from __future__ import annotations

import pytest

from kamtool.tui.fmt import countdown, duration
from kamtool.tui.health import (
    CRITICAL,
    OK,
    WARNING,
    check_dispatcher,
    check_error_rate,
    check_shared_memory,
    check_transactions,
    worst,
)
from kamtool.tui.source import Destination
from kamtool.tui.traffic import Traffic, reply_class_total, totals


def dest(set_id: int, state: str) -> Destination:
    return Destination(set_id, f"sip:10.0.0.{set_id}", state[0].upper() + "X", state, False,
                       0, None, "")  # fmt: skip


@pytest.mark.parametrize(
    ("states", "level", "reason"),
    [
        ([], OK, "no dispatcher sets"),
        ([(1, "active"), (1, "active")], OK, "1 set(s), every destination up"),
        ([(1, "active"), (1, "inactive")], WARNING, "set 1: 1 of 2 down"),
        ([(1, "active"), (1, "trying")], WARNING, "set 1: 1 trying"),
        ([(1, "active"), (2, "disabled")], CRITICAL, "set 2: all 1 down"),
    ],
)
def test_dispatcher_rule(states, level, reason):
    check = check_dispatcher([dest(s, st) for s, st in states])
    assert (check.level, check.reason) == (level, reason)
    assert check.command == "kamtool rpc dispatcher.list"


def stats(requests=0, replies=0, err=0, c5=0, c6=0) -> dict[str, float]:
    return {
        "core:rcv_requests": requests,
        "core:rcv_replies": replies,
        "core:err_requests": err,
        "core:rcv_replies_5xx": c5,
        "core:rcv_replies_6xx": c6,
    }


def test_error_rate_uses_the_change_since_the_baseline():
    base = stats(requests=1000, replies=1000, c5=500)  # a bad past does not count
    assert check_error_rate(stats(1100, 1100, c5=502), base).level == OK
    assert check_error_rate(stats(1100, 1100, c5=520), base).level == WARNING
    check = check_error_rate(stats(1100, 1100, err=30, c5=520), base)
    assert check.level == CRITICAL and "25.0% errors (50 of 200 messages recently)" in check.reason


def test_error_rate_after_a_reset_and_with_little_traffic():
    reset = check_error_rate(stats(100, 100, c5=50), stats(5000, 5000))
    assert reset.level == CRITICAL and "since start" in reset.reason
    assert check_error_rate(stats(5, 5, c5=5)).level == OK  # 10 messages: too few to judge
    assert check_error_rate({}).level == WARNING


def test_transactions_rule():
    assert check_transactions({}, {"current": 3}).level == OK
    assert check_transactions({}, {"current": 1500}).level == WARNING
    assert check_transactions({}, {"current": 20000}).level == CRITICAL
    assert check_transactions({"tmx:inuse_transactions": 2000}, {}).level == WARNING
    piling = check_transactions({}, {"current": 400}, {"x": 1}, {"current": 150})
    assert piling.level == WARNING and piling.reason == "piling up: 150 -> 400"
    assert check_transactions({}, {}).level == OK  # tm not loaded


def test_shared_memory_rule():
    total = 64 * 2**20
    assert (
        check_shared_memory({"shmem:total_size": total, "shmem:real_used_size": total * 0.5}).level
        == OK
    )
    assert (
        check_shared_memory({"shmem:total_size": total, "shmem:real_used_size": total * 0.85}).level
        == WARNING
    )
    full = check_shared_memory({"shmem:total_size": total, "shmem:real_used_size": total * 0.97})
    assert full.level == CRITICAL and full.reason.startswith("97% used")
    assert check_shared_memory({}).reason == "not reported by this server"
    assert worst([full, check_shared_memory({})]) == CRITICAL


def test_reply_classes_from_tm_and_sl_else_received():
    sent = {"tmx:4xx_transactions": 3, "sl:404_replies": 2, "sl:4xx_replies": 1,
            "core:rcv_replies_4xx": 50}  # fmt: skip
    assert reply_class_total(sent, "4xx") == 6
    assert reply_class_total({"core:rcv_replies_4xx": 50}, "4xx") == 50


def test_traffic_rates_per_second_and_resets():
    t = Traffic(keep=3)
    t.add(0.0, {"core:rcv_requests": 100, "core:fwd_requests": 10})
    assert t.latest("requests") is None
    t.add(2.0, {"core:rcv_requests": 120, "core:fwd_requests": 14})
    assert t.latest("requests") == 10.0 and t.latest("forwarded") == 2.0
    t.add(4.0, {"core:rcv_requests": 5})  # restarted server: new baseline, no negative rate
    assert t.window("requests") == [10.0]
    for i in range(1, 5):
        t.add(4.0 + i, {"core:rcv_requests": 5 + i})
    assert t.window("requests") == [1.0, 1.0, 1.0]  # only the last `keep` rates
    assert set(totals({})) >= {"requests", "replies", "dropped", "errors", "2xx", "6xx"}


def test_countdown_and_duration_text():
    assert countdown(3429, 0) == "57m09s"
    assert countdown(10, 12.5) == "expired" and countdown(None, 0) == "expired"
    assert duration(90061) == "1d01h01m" and duration(3725) == "1h02m05s" and duration(None) == "-"
