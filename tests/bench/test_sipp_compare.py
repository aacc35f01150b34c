"""Smoke test of bench/sipp_compare.py's helpers: a short, low-rate run against kamtool serve.

Correctness only (calls complete, counters and CPU readings make sense); no timing asserted.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.require import unavailable

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sipp_compare.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_sipp_compare", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sc = _load()


def fake_runner(capacity: int, seen: list[int]):
    def run(rate: int):
        seen.append(rate)
        return sc.Step("x", "options", rate, rate, rate, 0, 1.0, 0.1, rate <= capacity)

    return run


def test_find_best_rate_doubles_then_bisects():
    seen: list[int] = []
    steps = sc.find_best_rate(fake_runner(700, seen), 100, 100_000, budget_s=600)
    assert seen[:4] == [100, 200, 400, 800]
    assert sc.best(steps).rate == 700
    assert all(r <= 800 for r in seen)


def test_find_best_rate_stops_at_max_rate():
    seen: list[int] = []
    sc.find_best_rate(fake_runner(10**9, seen), 250, 1000, budget_s=600)
    assert seen == [250, 500, 1000]


def test_summary_ratio_at_common_rate():
    steps = {
        ("kamtool", "register"): [
            sc.Step("kamtool", "register", 100, 100, 100, 0, 1.0, 0.4, True),
            sc.Step("kamtool", "register", 200, 200, 150, 50, 1.0, 0.5, False),
        ],
        ("kamailio", "register"): [
            sc.Step("kamailio", "register", 100, 100, 100, 0, 1.0, 0.2, True),
            sc.Step("kamailio", "register", 200, 200, 200, 0, 1.0, 0.3, True),
        ],
    }
    (row,) = sc.summary(steps)
    assert row["common_rate"] == 100
    assert row["kamtool"]["best_rate_cps"] == 100
    assert row["kamailio"]["best_tx_per_s"] == 400
    assert row["kamtool"]["cpu_s_per_1000_tx_at_common"] == 2.0  # 0.4 s / 200 tx
    assert row["ratio"]["cpu_s_per_1000_tx_at_common"] == 2.0
    assert row["ratio"]["best_rate_cps"] == 0.5


def test_cpu_seconds_of_own_process_group():
    assert os.getpid() in sc.group_pids(os.getpgid(0))
    assert sc.cpu_seconds(os.getpgid(0)) > 0


def test_users_csv(tmp_path):
    path = sc.write_users_csv(tmp_path / "u.csv", [("1001", "s1"), ("1002", "s2")])
    assert path.read_text().splitlines() == [
        "SEQUENTIAL",
        "1001;[authentication username=1001 password=s1]",
        "1002;[authentication username=1002 password=s2]",
    ]


@pytest.mark.sipp
@pytest.mark.slow
def test_low_rate_steps_against_kamtool_serve(tmp_path):
    if shutil.which("sipp") is None:
        unavailable("sipp is not installed (apt-get install sip-tester)")
    users = [("1001", "secret1001"), ("1002", "secret1002")]
    csv = sc.write_users_csv(tmp_path / "users.csv", users)
    with sc.KamtoolServer(tmp_path, users) as server:
        for name in ("options", "register"):
            step = sc.run_step(
                "kamtool", sc.WORKLOADS[name], server.port, server.pgid, 20, 1.0, csv, tmp_path
            )
            assert (step.calls, step.ok, step.failed) == (20, 20, 0), step
            assert step.passed
            assert step.cpu_s >= 0
        # a wrong password is a failed call, not a pass
        bad = sc.write_users_csv(tmp_path / "bad.csv", [("1001", "wrong")])
        step = sc.run_step(
            "kamtool", sc.WORKLOADS["register"], server.port, server.pgid, 5, 1.0, bad, tmp_path
        )
        assert step.ok == 0 and step.failed == 5 and not step.passed
    assert server.proc.poll() is not None
