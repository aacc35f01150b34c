"""Garbage-collector pauses of the routing core under calls, per threshold setting.

    python bench/gc_pauses.py [--calls 6000] [--thresholds 20000,20,20 5000,10,160 ...]

Relays ``--calls`` calls (INVITE, 200, ACK, BYE, 200, as ``proxy_core.py``) through the
router with the default route and no authentication, after ``gc.freeze()`` and each
``gc.set_threshold`` in turn (a fresh process per setting), and reports every pass the
collector made by generation: count, median and longest pause (ms, wall clock), total,
and the CPU time of the whole run. The loop never runs here, so no transaction or dialog
ever ends: the live set only grows, which exaggerates the older generations' passes
against a real server, where calls end after 32 s. Speed is shown, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = ["20000,20,20", "5000,10,160"]


def run_one(thresholds: tuple[int, ...], calls: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from bench import proxy_core as pc
    from kamtool.proxy.auth import Authenticator
    from kamtool.proxy.config import Listen, ProxyConfig
    from kamtool.proxy.stats import Statistics
    from kamtool.proxy.timers import TimerHeap
    from kamtool.proxy.usrloc import LocationStore
    from kamtool.proxy.wiring import build_proxy

    cfg = ProxyConfig(listen=(Listen("udp", "127.0.0.1", 5060),), rpc_listen=None,
                      pike_reqs_density_per_unit=10**9, auth=False)  # fmt: skip
    sink, wire = pc.Sink(), pc.Wire()
    router = build_proxy(
        cfg,
        timers=TimerHeap(asyncio.new_event_loop()),
        usrloc=LocationStore(db_mode=0),
        auth=Authenticator(None, lookup=lambda u, d: pc.Row()),
        stats=Statistics(),
        transports=wire,
    )
    router.receive(pc.register(1, None), sink, ("127.0.0.1", 5999))  # the callee
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(on_gc)
    peer, callee = ("127.0.0.2", 5998), ("127.0.0.1", 5999)
    t0 = time.process_time()
    for i in range(calls):
        router.receive(pc.call_request(i, "INVITE", 1), sink, peer)
        ok, rr = pc.call_answer(wire.last)
        router.receive(ok, sink, callee)
        router.receive(pc.call_request(i, "ACK", 1, rr, "callee"), sink, peer)
        router.receive(pc.call_request(i, "BYE", 2, rr, "callee"), sink, peer)
        bye_ok, _ = pc.call_answer(wire.last)
        router.receive(bye_ok, sink, callee)
    cpu = time.process_time() - t0
    gc.callbacks.remove(on_gc)
    return {
        "thresholds": list(thresholds),
        "cpu_s": round(cpu, 2),
        "passes": {
            gen: {
                "count": len(v),
                "median_ms": round(statistics.median(v), 2) if v else 0,
                "max_ms": round(max(v), 1) if v else 0,
                "total_ms": round(sum(v)),
            }
            for gen, v in pauses.items()
        },  # fmt: skip
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=6000)
    ap.add_argument("--thresholds", nargs="+", default=DEFAULTS)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a child process: one setting
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(tuple(int(x) for x in args.one.split(",")), args.calls)))
        return
    for setting in args.thresholds:
        out = subprocess.run(
            [sys.executable, __file__, "--one", setting, "--calls", str(args.calls)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        row = json.loads(out)
        if args.json:
            print(json.dumps(row))
            continue
        print(f"thresholds {setting:>14}: CPU {row['cpu_s']} s")
        for gen, p in row["passes"].items():
            print(f"  gen{gen}: {p['count']:4} passes, median {p['median_ms']} ms, "
                  f"max {p['max_ms']} ms, total {p['total_ms']} ms")  # fmt: skip


if __name__ == "__main__":
    main()
