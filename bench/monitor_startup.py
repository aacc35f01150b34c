"""Start-up of ``kamtool monitor``: time to the first frame and to the first data, vs kamctl.

    python bench/monitor_startup.py [--runs 7] [--json]

Starts a real Kamailio 5.6 on loopback (tests/support/kamailio.py, seeded SQLite DB) with
two contacts registered by sipsak, then alternates, so that all see the same load:

* ``kamctl monitor 1``: one cycle of kamctl's monitor over the FIFO (the reference);
* ``kamtool monitor --once --json`` over the same FIFO, and over HTTP;
* the Textual app, headless, in a fresh interpreter: the time from spawning the process
  to the first frame (Textual's *ready*: the screen has been painted once) and to the
  first data (every poll group answered and rendered).

Reports median / p90 / min of wall time and of CPU time (user + sys, child processes
included: kamctl is a shell script running cat, awk, sed ...) with ratios against
``kamctl monitor 1``; on a busy machine the CPU times are the steadier comparison.
Without Kamailio (``--captures``) only the app is timed, fed from the captured answers.
This is a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DRIVER = r"""
import json, sys, time
t0 = float(sys.argv[1]); target = sys.argv[2]
from kamtool.tui.app import MonitorApp
if target.startswith("captures:"):
    from kamtool.tui.capture import FakeSource
    source = FakeSource(target.removeprefix("captures:"))
else:
    from kamtool.tui.source import rpc_source
    source = rpc_source(target, timeout=5)
marks = {"imported": time.time() - t0}
cpu = lambda: time.process_time()
app = MonitorApp(source, interval=None)

async def pilot_run(pilot):
    marks["first_frame"] = time.time() - t0
    marks["first_frame_cpu"] = cpu()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    marks["first_data"] = time.time() - t0
    marks["first_data_cpu"] = cpu()
    rows = pilot.app.query_one("#reg-table").row_count
    marks["contacts_shown"] = rows
    pilot.app.exit()

app.run(headless=True, auto_pilot=pilot_run, size=(120, 40))
sys.stderr.write(json.dumps(marks))
"""


def kamtool_cmd() -> list[str]:
    script = Path(sys.executable).with_name("kamtool")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kamtool"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], **kw) -> tuple[float, float]:
    """Wall time and CPU time (user + sys, its child processes included) of ``cmd``."""
    cpu0, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    elapsed, cpu = time.perf_counter() - start, children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return elapsed, cpu


def app_marks(target: str) -> dict[str, float]:
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, repr(t0), target],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"monitor driver failed:\n{proc.stdout}{proc.stderr[-3000:]}")
    return json.loads(proc.stderr.strip().splitlines()[-1])


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(p90 * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "runs": len(ordered),
    }


def register(k, user: str, port: int) -> None:
    subprocess.run(
        ["sipsak", "-U", "-C", f"sip:{user}@127.0.0.1:{port}",
         "-s", f"sip:{user}@127.0.0.1:{k.sip_port}", "-a", f"secret{user}", "-x", "600"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def bench_live(runs: int) -> dict[str, dict]:
    from tests.support.kamailio import Kamailio

    samples: dict[str, list[float]] = {}

    def add(name: str, wall: float, cpu: float) -> None:
        samples.setdefault(f"{name} wall", []).append(wall)
        samples.setdefault(f"{name} cpu", []).append(cpu)

    with tempfile.TemporaryDirectory() as tmp, Kamailio(Path(tmp)) as k:
        register(k, "1001", 5999)
        register(k, "1002", 5998)
        env = dict(os.environ, KAMCTL_TEST="1", TERM=os.environ.get("TERM", "xterm"))
        fifo = f"fifo:{k.fifo_path}"
        once = [*kamtool_cmd(), "monitor", "--once", "--json", "--rpc"]
        for _ in range(runs):
            add("kamctl monitor 1 (fifo)", *timed(["kamctl", "monitor", "1"], cwd=k.dir, env=env))
            add("kamtool monitor --once (fifo)", *timed([*once, fifo]))
            add("kamtool monitor --once (http)", *timed([*once, k.rpc_http_url]))
            marks = app_marks(k.rpc_http_url)
            if marks["contacts_shown"] != 2:
                raise SystemExit(f"the app showed {marks['contacts_shown']} contacts, not 2")
            add("app first frame (http)", marks["first_frame"], marks["first_frame_cpu"])
            add("app first data (http)", marks["first_data"], marks["first_data_cpu"])
    return {name: summary(values) for name, values in samples.items()}


def bench_captures(runs: int) -> dict[str, dict]:
    from tests.support.reference import RPC_CAPTURES

    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        marks = app_marks(f"captures:{RPC_CAPTURES}")
        for name in ("first_frame", "first_data"):
            samples.setdefault(f"app {name} (captures) wall", []).append(marks[name])
            samples.setdefault(f"app {name} (captures) cpu", []).append(marks[f"{name}_cpu"])
    return {name: summary(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--captures", action="store_true", help="no Kamailio: captured answers")
    args = parser.parse_args()
    from tests.support.kamailio import kamailio_available

    live = not args.captures and kamailio_available()
    results = bench_live(args.runs) if live else bench_captures(args.runs)
    for kind in ("wall", "cpu"):
        base = results.get(f"kamctl monitor 1 (fifo) {kind}")
        for name, r in results.items():
            if base and name.endswith(kind):
                r["ratio_vs_kamctl"] = round(r["median_ms"] / base["median_ms"], 2)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        ratio = f"  x{r['ratio_vs_kamctl']} of kamctl" if "ratio_vs_kamctl" in r else ""
        print(
            f"{name:<40} median {r['median_ms']:>7.1f} ms  p90 {r['p90_ms']:>7.1f}  "
            f"min {r['min_ms']:>7.1f}  ({r['runs']} runs){ratio}"
        )


if __name__ == "__main__":
    main()
