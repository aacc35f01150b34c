"""Instructions per proxied call through ``kamtool serve`` in one process and in N worker
processes (``--workers N``), counted by valgrind's callgrind and summed over every process
of the server: the cost of the worker machinery (the owner switch, the forwarding channel,
the registration copies), which the machine's load does not change.

    python bench/workers_callgrind.py [--workers 2] [--calls 40] [--rate 4] [--keep]

Each server runs under ``valgrind --tool=callgrind`` (forked workers stay under it) on a
fresh SQLite database with 1001-1003; the SIPp callee (1003) registers, the counters of
every process in the server's group are zeroed (``callgrind_control -z PID``), SIPp makes
``--calls`` calls (the ``call`` workload of sipp_compare: INVITE, 100/180/200, ACK, a 1 s
hold, BYE, 200; one socket per call, so the kernel spreads them over the workers), then
the counters are dumped (``callgrind_control -d PID``) and summed. Idle work during the
calls (timers) is included, once per process.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sippbench.measure import (  # noqa: E402
    WORKLOADS,
    group_pids,
    run_sipp,
    write_users_csv,
)
from bench.sippbench.servers import KAMTOOL_PIKE_LIMITS, Callee, wait_answering  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

USERS = [("1001", "secret1001"), ("1002", "secret1002"), ("1003", "secret1003")]
_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


def instructions(work: Path) -> int:
    """The instructions of every dump part (``cg.<pid>.<n>``) in ``work``."""
    total = 0
    for path in work.glob("cg.*.*"):
        found = _TOTAL.search(path.read_text(errors="replace"))
        if found:
            total += int(found.group(1))
    return total


def measure(workers: int, calls: int, rate: int, work: Path) -> dict[str, float]:
    """One server: instructions per call (and per process)."""
    work.mkdir(parents=True)
    url = "sqlite:///" + str(work / "kamtool.sqlite")
    kamtool = [sys.executable, "-m", "kamtool", "--db", url]
    for user, password in USERS:
        subprocess.run([*kamtool, "add", f"{user}@127.0.0.1", password], check=True,
                       capture_output=True, timeout=120, cwd=work)  # fmt: skip
    port = free_port()
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/cg.%p",
         *kamtool, "serve", "--listen", f"udp:127.0.0.1:{port}", "--rpc-listen", "",
         "--log-level", "warning", *KAMTOOL_PIKE_LIMITS, "--workers", str(workers)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=work,
    )  # fmt: skip
    log.close()
    try:
        wait_answering(port, work, timeout=600)
        if workers > 1:  # the others start once worker 0 serves
            deadline = time.monotonic() + 600
            while len(group_pids(proc.pid)) < workers + 1 and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(20)  # (their start-up, under valgrind)
        server = SimpleNamespace(port=port, auth=True, name=f"w{workers}")
        with Callee(server, USERS[-1], work):
            pids = group_pids(proc.pid)
            for pid in pids:
                subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True)
            csv = write_users_csv(work / "users.csv", USERS[:-1])
            run = run_sipp(WORKLOADS["call"], port, rate, calls, csv, work, USERS[-1][0],
                           1000, transport="un")  # fmt: skip
            for pid in pids:
                subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True)
        time.sleep(2)
        total = instructions(work)
        return {"workers": workers, "processes": len(pids), "calls_ok": run.ok,
                "instructions": total, "per_call": total / max(run.ok, 1)}  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--rate", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (dumps, logs)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kt-workers-cg-"))
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}  load {os.getloadavg()}")
    rows = [measure(n, args.calls, args.rate, work / f"w{n}") for n in (1, args.workers)]
    print("| workers | processes | calls ok | instructions/call (M) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['processes']} | {r['calls_ok']} | "
              f"{r['per_call'] / 1e6:.2f} |")  # fmt: skip
    base = rows[0]["per_call"]
    print(f"\n{args.workers} workers / 1: {rows[1]['per_call'] / base:.3f}x instructions per call")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work dir: {work}")


if __name__ == "__main__":
    main()
