"""SIPp load against kamtool's proxy and a real Kamailio 5.6, in the same run.

For OPTIONS (keepalive answered by the proxy) and REGISTER with digest auth (401, then
200; two transactions per call) it finds the highest call rate SIPp sustains with less than
0.5% failed calls, stepping the rate up, and reports the server's CPU seconds per 1,000
transactions at that rate (utime+stime of every process of the server, from /proc).

    python bench/sipp_proxy.py [--seconds 4] [--rates 250,500,1000,2000,4000]

Loopback only. Needs sipp, kamailio (the reference cfg) and kamtool installed.
Numbers depend on the machine: compare the ratio kamtool/Kamailio, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.support.kamailio as kamailio_support  # noqa: E402
from tests.proxy.harness import add_subscriber, low_free_port  # noqa: E402
from tests.support.kamailio import Kamailio, kamailio_available  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

SIPP = ROOT / "tests" / "sipp"
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK


def group_pids(pgid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                out.append(int(d.name))
    return out


def run_sipp(scenario: str, port: int, rate: int, calls: int, *extra: str) -> tuple[int, int]:
    """Run SIPp; returns (successful, failed) calls."""
    proc = subprocess.run(
        ["sipp", f"127.0.0.1:{port}", "-sf", str(SIPP / scenario), "-i", "127.0.0.1",
         "-p", str(free_port()), "-r", str(rate), "-m", str(calls), "-l", str(rate * 4),
         "-nostdin", "-timeout", "60s", "-max_recv_loops", "10000", *extra],
        capture_output=True, text=True, timeout=120, cwd="/tmp",
    )  # fmt: skip
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", proc.stdout)
    bad = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", proc.stdout)
    return (int(ok[-1]) if ok else 0), (int(bad[-1]) if bad else calls)


def measure(name, port, pids_fn, scenario, tx_per_call, rates, seconds, extra):
    best = None
    for rate in rates:
        calls = rate * seconds
        before = cpu_seconds(pids_fn())
        t0 = time.monotonic()
        ok, failed = run_sipp(scenario, port, rate, calls, *extra)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(pids_fn()) - before
        fail_ratio = failed / max(calls, 1)
        achieved = ok / wall if wall else 0.0
        row = {
            "server": name,
            "scenario": scenario,
            "rate": rate,
            "calls": calls,
            "ok": ok,
            "failed": failed,
            "wall_s": round(wall, 2),
            "achieved_cps": round(achieved, 1),
            "cpu_s_per_1000_tx": round(1000 * cpu / max(ok * tx_per_call, 1), 3),
        }
        print(json.dumps(row), flush=True)
        # SIPp slows down instead of failing when the server lags: count that as failure
        if fail_ratio >= 0.005 or ok < calls * 0.995 or achieved < rate * 0.9:
            break
        best = row
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rates", default="250,500,1000,2000,4000")
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="kt-bench-"))
    # The reference cfg's pike (200 requests / 2 s per source IP) would ban the load
    # generator; the benchmark copy raises that limit and changes nothing else.
    cfg = work / "kamailio-bench.cfg"
    cfg.write_text(
        kamailio_support.CONFIG.read_text().replace(
            '"reqs_density_per_unit", 200', '"reqs_density_per_unit", 1000000'
        )
    )
    kamailio_support.CONFIG = cfg
    db = "sqlite:///" + str(work / "kamtool.sqlite")
    add_subscriber(db, "1001", "secret1001")
    port = low_free_port()
    ours = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "--db", db, "serve", "--listen",
         f"udp:127.0.0.1:{port}", "--rpc-listen", "", "--log-level", "warning"],
        start_new_session=True,
    )  # fmt: skip
    results = []
    try:
        deadline = time.monotonic() + 30
        while run_sipp("options.xml", port, 10, 1)[0] != 1:
            if time.monotonic() > deadline:
                raise SystemExit("kamtool serve did not answer")
        auth = ["-au", "1001", "-ap", "secret1001", "-s", "1001", "-set", "expires", "600"]
        for scenario, tx, extra in (("options.xml", 1, []), ("register.xml", 2, auth)):
            results.append(
                measure(
                    "kamtool", port, lambda: [ours.pid], scenario, tx, rates, args.seconds, extra
                )  # fmt: skip
            )
            if kamailio_available():
                with Kamailio(work) as k:
                    pg = os.getpgid(k.proc.pid)
                    results.append(
                        measure(
                            "kamailio",
                            k.sip_port,
                            lambda pg=pg: group_pids(pg),
                            scenario,
                            tx,
                            rates,
                            args.seconds,
                            extra,
                        )  # fmt: skip
                    )
    finally:
        os.killpg(ours.pid, signal.SIGTERM)
        ours.wait(10)
    print("best rates (< 0.5% failures):")
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
