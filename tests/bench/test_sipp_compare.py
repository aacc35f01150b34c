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


def test_summary_ratio_at_common_rate_and_half_rate():
    steps = {
        ("kamtool", "register"): [
            sc.Step("kamtool", "register", 100, 100, 100, 0, 1.0, 0.4, True, 1.0, 9.0),
            sc.Step("kamtool", "register", 200, 200, 150, 50, 1.0, 0.5, False),
            sc.Step("kamtool", "register", 50, 50, 50, 0, 1.0, 0.2, True, 0.0, 4.0, 50, ["half"]),
        ],
        ("kamailio", "register"): [
            sc.Step("kamailio", "register", 100, 100, 100, 0, 1.0, 0.2, True),
            sc.Step("kamailio", "register", 200, 200, 200, 0, 1.0, 0.3, True, 0.0, 1.0),
            sc.Step("kamailio", "register", 50, 50, 50, 0, 1.0, 0.1, True, 0.0, 2.0, 50, ["half"]),
        ],
    }
    (row,) = sc.summary(steps)
    assert row["common_rate"] == 100 and row["half_rate"] == 50
    assert row["kamtool"]["best_rate_cps"] == 100
    assert row["kamailio"]["best_tx_per_s"] == 400
    assert row["kamtool"]["common_cpu_us_per_tx"] == 2000.0  # 0.4 s / 200 tx
    assert row["kamtool"]["common_cpu_us_per_call"] == 4000.0
    assert row["kamtool"]["best_p99_ms"] == 9.0
    assert row["kamailio"]["best_p99_ms"] == 1.0  # its best is 200 cps
    assert row["kamailio"]["half_p99_ms"] == 2.0
    assert row["ratio"]["common_cpu_us_per_tx"] == 2.0
    assert row["ratio"]["best_rate_cps"] == 0.5
    table = sc.markdown_table([row], ["a note"])
    lines = table.splitlines()
    assert lines[0].startswith("| workload | server | best cps")
    assert "| register | kamtool | 100 | 2000 | 4000 | 1/9 | 2000 (100) | 1/9 | 0/4 (50) |" in lines
    assert lines[-1] == "a note"


def test_rtt_csv_and_percentiles():
    text = "Date_ms;response_time_ms;rtd_no\n1.0;3;1\n2.0;1;1\n3.0;250;2\n4.0;2;1\n\n"
    values = sc.parse_rtt_csv(text)
    assert values == [3.0, 1.0, 2.0]  # response time 2 is not ours
    assert sc.percentile(values, 50) == 2.0
    assert sc.percentile(values, 99) == 3.0
    assert sc.percentile(list(range(1, 101)), 99) == 99
    assert sc.percentile([], 50) is None


def test_parse_counts_of_sipp_screen():
    screen = (
        "  Successful call        |        0                  |       1998               \n"
        "  Failed call            |        0                  |       2                  \n"
    )
    assert sc.parse_counts(screen) == {"Successful": 1998, "Failed": 2}


def test_call_command_line_has_callee_hold_and_room_for_open_calls(tmp_path):
    cmd = sc.sipp_command(sc.WORKLOADS["call"], 5060, 100, 300, None, "1003", 2000)
    assert cmd[cmd.index("-key") + 1 : cmd.index("-key") + 3] == ["callee", "1003"]
    assert cmd[cmd.index("-d") + 1] == "2000"
    assert int(cmd[cmd.index("-l") + 1]) >= 100 * 2  # calls held 2 s at 100/s stay open
    assert "-trace_rtt" in cmd
    with pytest.raises(ValueError):
        sc.sipp_command(sc.WORKLOADS["call"], 5060, 100, 300, None)
    with pytest.raises(ValueError):
        sc.sipp_command(sc.WORKLOADS["call_digest"], 5060, 1, 1, None, "1003")


def test_kamailio_cfg_edits_on_the_reference_cfg(tmp_path):
    import tests.support.kamailio as support

    text = support.CONFIG.read_text()
    plain = sc.KamailioServer(tmp_path, []).config_text(text)
    assert 'reqs_density_per_unit", 60000' in plain and "bench: no auth" not in plain
    noauth = sc.KamailioServer(tmp_path, [], children=1, auth=False).config_text(text)
    assert "\nchildren=1\n" in noauth
    body = noauth.split("route[AUTH] {", 1)[1]
    assert body.lstrip().startswith("return;")
    with pytest.raises(RuntimeError):
        sc.KamailioServer(tmp_path, []).config_text(text.replace("reqs_density", "x"))


def test_cpu_seconds_of_own_process_group():
    assert os.getpid() in sc.group_pids(os.getpgid(0))
    assert sc.cpu_seconds(os.getpgid(0)) > 0


def test_users_csv(tmp_path):
    path = sc.write_users_csv(tmp_path / "u.csv", [("1001", "s1"), ("1002", "s2")])
    assert path.read_text().splitlines() == [
        "SEQUENTIAL",
        "1001;[authentication username=1001 password=s1];5999",
        "1002;[authentication username=1002 password=s2];5999",
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
        with sc.Callee(server, users[-1], tmp_path):
            for name in ("call", "call_digest"):
                step = sc.run_step(
                    "kamtool", sc.WORKLOADS[name], server.port, server.pgid, 10, 1.0, csv,
                    tmp_path, users[-1][0], 100,
                )  # fmt: skip
                assert (step.calls, step.ok, step.failed) == (10, 10, 0), step
                assert step.rtt_samples == 10 and step.p99_ms is not None
        # a wrong password is a failed call, not a pass
        bad = sc.write_users_csv(tmp_path / "bad.csv", [("1001", "wrong")])
        step = sc.run_step(
            "kamtool", sc.WORKLOADS["register"], server.port, server.pgid, 5, 1.0, bad, tmp_path
        )
        assert step.ok == 0 and step.failed == 5 and not step.passed
    assert server.proc.poll() is not None
