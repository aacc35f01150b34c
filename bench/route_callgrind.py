"""Instructions per message: the route as a KSR script vs the route coded in Python.

Runs each scenario of ``proxy_core.py`` (OPTIONS, REGISTER 401 + 200, MESSAGE relayed
and its 200, a call INVITE/200/ACK/BYE/200) through the routing core under
``valgrind --tool=callgrind``, N and 2N times, and prints ``(Ir(2N) - Ir(N)) / N``: the
instructions one iteration costs, start-up excluded. Instruction counts do not depend on
the machine's load (CPU time does), so small differences are real::

    python bench/route_callgrind.py [--n 150] [--scenarios options,register,message,call]
                                    [--route FILE.py]

About a minute of valgrind per run (4 runs per scenario). ``--route``: another script
than kamtool's default route.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SCENARIOS = ("options", "register", "message", "call")


def child(mode: str, scenario: str, n: int, route: str | None) -> None:
    """One scenario ``n`` times through one router (what valgrind measures)."""
    import proxy_core as b

    from kamtool.proxy.auth import Authenticator
    from kamtool.proxy.config import Listen, ProxyConfig
    from kamtool.proxy.ksr.engine import engine_for
    from kamtool.proxy.routes import DEFAULT_ROUTE
    from kamtool.proxy.routing import Router
    from kamtool.proxy.server import tune_gc
    from kamtool.proxy.stats import Statistics
    from kamtool.proxy.timers import TimerHeap
    from kamtool.proxy.usrloc import Binding, LocationStore
    from kamtool.sip.digest import answer_challenge, parse_challenge
    from kamtool.sip.parser import parse_message

    loop = asyncio.new_event_loop()
    cfg = ProxyConfig(listen=(Listen("udp", "127.0.0.1", 5060),), rpc_listen=None,
                      pike_reqs_density_per_unit=10**9)  # fmt: skip
    script = engine_for(route or DEFAULT_ROUTE) if mode == "route" else None
    r = Router(cfg, timers=TimerHeap(loop), usrloc=LocationStore(db_mode=0),
               auth=Authenticator(None, lookup=lambda u, d: b.Row()), stats=Statistics(),
               script=script)  # fmt: skip
    wire = b.Wire()
    r.attach(wire)
    r.usrloc.save(Binding(aor="1001", contact="sip:1001@127.0.0.1:5999",
                          expires=time.time() + 3600, q=-1.0, callid="x", cseq=1,
                          socket="udp:127.0.0.1:5060"))  # fmt: skip
    sink, peer, callee = b.Sink(), ("127.0.0.2", 5998), ("127.0.0.1", 5999)
    r.receive(b.register(1), sink, callee)
    ch = parse_challenge(parse_message(sink.last).headers.get("www-authenticate"))
    creds = answer_challenge(ch, method="REGISTER", uri="sip:127.0.0.1", username="1001",
                             password="secret").to_header()  # fmt: skip
    tune_gc()
    for i in range(n):
        if scenario == "options":
            r.receive(b.OPTIONS, sink, callee)
        elif scenario == "register":
            r.receive(b.register(2 * i + 2), sink, callee)
            r.receive(b.register(2 * i + 3, creds), sink, callee)
        elif scenario == "message":
            r.receive(b.message(i), sink, peer)
            r.receive(b.answer(wire.last), sink, callee)
        else:
            r.receive(b.call_request(i, "INVITE", 1), sink, peer)
            ok, rr = b.call_answer(wire.last)
            r.receive(ok, sink, callee)
            r.receive(b.call_request(i, "ACK", 1, rr, "callee"), sink, peer)
            r.receive(b.call_request(i, "BYE", 2, rr, "callee"), sink, peer)
            bye_ok, _ = b.call_answer(wire.last)
            r.receive(bye_ok, sink, callee)
    status = parse_message(sink.last).status
    if status not in (200, 401):
        raise SystemExit(f"{scenario}: unexpected last answer {status}")


def instructions(mode: str, scenario: str, n: int, route: str | None) -> int:
    """Ir of one child run under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, __file__, "--child", mode, scenario, str(n)]  # fmt: skip
        if route:
            cmd += ["--route", route]
        subprocess.run(cmd, check=True, capture_output=True, timeout=1800)
        with open(out, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
    raise SystemExit("callgrind wrote no totals")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--route", help="a route script instead of kamtool's default route")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "SCENARIO", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.route)
        return
    print(f"{'scenario':10} {'coded route':>14} {'KSR script':>14}  difference")
    for scenario in args.scenarios.split(","):
        per = {}
        for mode in ("builtin", "route"):
            low = instructions(mode, scenario, args.n, args.route)
            high = instructions(mode, scenario, 2 * args.n, args.route)
            per[mode] = (high - low) / args.n
        diff = 100 * (per["route"] / per["builtin"] - 1)
        print(f"{scenario:10} {per['builtin']:14,.0f} {per['route']:14,.0f}  {diff:+.1f}%")


if __name__ == "__main__":
    main()
