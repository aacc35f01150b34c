"""What holds kamtool serve's event loop: GC pauses and stalls under a steady SIPp load.

    python bench/loop_stalls.py [--workload register_noauth] [--rate 1000] [--seconds 10]
        [--users 3] [--contacts 0] [--timer-interval 10] [--json]

Starts ``kamtool serve`` (as ``sipp_compare.py`` does) with ``bench/stallwatch`` on its
PYTHONPATH: a ``sitecustomize`` that, once the server runs, times every garbage-collector
pass (by generation) and has a watchdog thread notice when a 5 ms heartbeat on the loop
is more than 15 ms late, keeping the main thread's stack at that moment. Then one SIPp
run at ``--rate`` for ``--seconds`` (``--contacts N`` first registers N more contacts
with ``ul.add``, e.g. 100000 for the usrloc expiry sweep). Prints SIPp's p50/p99, the GC
pauses per generation and the stalls with where they were. Speed is shown, never
asserted; the heartbeat costs ~1% of a core.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sippbench.measure import (  # noqa: E402
    WORKLOADS,
    percentile,
    run_sipp,
    write_users_csv,
)
from bench.sippbench.servers import SEED_USERS, Callee, KamtoolServer  # noqa: E402
from tests.support.ports import free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="register_noauth", choices=sorted(WORKLOADS))
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--users", type=int, default=3)
    ap.add_argument("--contacts", type=int, default=0, help="ul.add this many contacts first")
    ap.add_argument("--timer-interval", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    wl = WORKLOADS[args.workload]
    work = Path(tempfile.mkdtemp(prefix="loop-stalls-"))
    users = list(SEED_USERS) + [(f"{1000 + i}", f"secret{1000 + i}")
                                for i in range(4, args.users + 1)]  # fmt: skip
    users = users[: max(args.users, 1)]
    out = work / "stalls.json"
    paths = [str(ROOT / "bench" / "stallwatch"), os.environ.get("PYTHONPATH", "")]
    env = os.environ | {
        "KAMTOOL_STALLWATCH": str(out),
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
    }
    cfg = work / "proxy.toml"
    cfg.write_text(f"[proxy]\ntimer_interval = {args.timer_interval}\n")
    extra = ["--config", str(cfg)]
    rpc_port = free_port()
    if args.contacts:
        extra += ["--rpc-listen", f"127.0.0.1:{rpc_port}"]
    with KamtoolServer(work, users, env=env, auth=wl.auth, extra=extra) as server:
        if args.contacts:
            from tests.support.stall_probe import fill_contacts, rss_kb

            url = f"http://127.0.0.1:{rpc_port}/RPC"
            fill_contacts(url, args.contacts)
            print(f"{args.contacts} contacts, RSS {rss_kb(server.pgid)[0] / 1024:.0f} MB")
        csv = write_users_csv(work / "users.csv", users[:-1] if wl.call else users)
        calls = int(args.rate * args.seconds)
        if wl.call:
            with Callee(server, users[-1], work) as callee:
                run = run_sipp(wl, server.port, args.rate, calls, csv, work,
                               callee=callee.user[0], hold_ms=1000)  # fmt: skip
        else:
            run = run_sipp(wl, server.port, args.rate, calls, csv, work)
        time.sleep(0.5)
    data = json.loads(out.read_text())
    report = summarise(data, run, calls)
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.workload} at {args.rate}/s for {args.seconds} s: {run.ok}/{calls} ok, "
          f"p50/p99 {report['p50_ms']}/{report['p99_ms']} ms")  # fmt: skip
    for gen, g in report["gc"].items():
        print(f"  gc gen{gen}: {g['count']} passes, max {g['max_ms']} ms, total {g['total_ms']} ms")
    print(f"  stalls > 15 ms: {len(data['stalls'])}")
    for s in sorted(data["stalls"], key=lambda s: -s["ms"])[:8]:
        print(f"  {s['ms']:.0f} ms:")
        for line in (s["stacks"] or [[]])[0][-4:]:
            print("      " + line)


def summarise(data: dict, run, calls: int) -> dict:
    by_gen: dict[int, list[float]] = collections.defaultdict(list)
    for gen, ms, _collected in data["gc"]:
        by_gen[gen].append(ms)
    return {
        "ok": run.ok,
        "calls": calls,
        "p50_ms": percentile(run.rtts_ms, 50),
        "p99_ms": percentile(run.rtts_ms, 99),
        "gc": {
            g: {"count": len(v), "max_ms": round(max(v), 1), "total_ms": round(sum(v), 1)}
            for g, v in sorted(by_gen.items())
        },  # fmt: skip
        "stalls_ms": sorted(round(s["ms"]) for s in data["stalls"]),
    }


if __name__ == "__main__":
    main()
