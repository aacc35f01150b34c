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


def test_shmem_total_is_the_cgroup_limit_when_it_is_the_lowest(tmp_path, monkeypatch) -> None:
    """shmem:total_size is the process's memory ceiling: the smallest of the cgroup limits
    on its cgroup's path (v1 memory.limit_in_bytes, v2 memory.max; "max" and v1's huge
    "no limit" number mean none), the address space limit and the physical memory."""
    from pathlib import Path

    from kamtool.proxy import stats as stats_mod

    physical = stats_mod._memory_ceiling_bytes()  # this test runs without limits
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    v1 = next((p for _i, c, p in (x.split(":", 2) for x in lines) if "memory" in c.split(",")),
              None)  # fmt: skip
    v2 = next((p for _i, c, p in (x.split(":", 2) for x in lines) if c == ""), None)
    if v1 is None and v2 is None:
        from tests.support.require import unavailable

        unavailable("/proc/self/cgroup names no cgroup (cgroups not mounted)")
    monkeypatch.setattr(stats_mod, "CGROUP_ROOT", tmp_path)
    assert stats_mod._cgroup_limit() is None
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    if v2 is not None:
        (tmp_path / v2.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (tmp_path / v2.lstrip("/") / "memory.max").write_text("max\n")
        (tmp_path / "memory.max").write_text(f"{2 << 30}\n")  # a parent's limit counts
        assert stats_mod._cgroup_limit() == 2 << 30
    if v1 is not None:
        leaf = tmp_path / "memory" / v1.lstrip("/")
        leaf.mkdir(parents=True, exist_ok=True)
        (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
        (leaf / "memory.limit_in_bytes").write_text(f"{1 << 30}\n")
        assert stats_mod._cgroup_limit() == 1 << 30
    if v1 is None:
        assert Statistics().value("shmem", "total_size") == min(2 << 30, physical)
    else:
        assert Statistics().value("shmem", "total_size") == min(1 << 30, physical)
    assert 0 <= Statistics().value("shmem", "free_size") < min(1 << 30, physical)


def test_counts_carry_to_a_new_process_but_not_gauges_or_settings(tmp_path) -> None:
    """serve --workers: a restarted worker adds what its predecessor counted
    (kamtool.proxy.workers.kept_counters), never its settings or present values."""
    from kamtool.proxy.workers import WorkerContext
    from kamtool.proxy.workers.kept_counters import KeptCounters

    old = Statistics()
    old.counter("core", "rcv_requests").value = 7
    old.counter("sl", "200_replies").value = 2
    old.set_value("registrar", "max_expires", 600)
    old.gauge("dialog", "active_dialogs", lambda: 4)
    assert old.counts() == {"core:rcv_requests": 7, "sl:200_replies": 2}

    ctx = WorkerContext(1, 2, str(tmp_path))

    class Timers:  # the first write happens at start; the next is left scheduled
        def call_later(self, delay, fn, *args):
            return type("T", (), {"cancel": lambda self: None})()

    keeper = KeptCounters(ctx, old)
    keeper.start(Timers())
    new = Statistics()
    new.set_value("registrar", "max_expires", 3600)
    new.gauge("dialog", "active_dialogs", lambda: 0)
    new.counter("core", "rcv_requests").value = 1  # counted before it read the file
    assert KeptCounters(ctx, new).resume() == 2
    assert new.value("core", "rcv_requests") == 8 and new.value("sl", "200_replies") == 2
    assert new.value("registrar", "max_expires") == 3600
    assert new.value("dialog", "active_dialogs") == 0
    new.carry({"dialog:active_dialogs": 5, "registrar:max_expires": 1, "bad": 3, "core:x": "y"})
    assert new.value("dialog", "active_dialogs") == 0
    assert new.value("registrar", "max_expires") == 3600
    # a worker that never wrote (first start, or a disk error) carries nothing
    assert KeptCounters(WorkerContext(0, 2, str(tmp_path)), Statistics()).resume() == 0
