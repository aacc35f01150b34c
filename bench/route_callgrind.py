"""Instructions per message of the KSR route script, against a baseline checkout.

Runs each scenario of ``proxy_core.py`` (OPTIONS, REGISTER 401 + 200, REGISTER 200 with
authentication off, MESSAGE relayed and its 200, a call INVITE/200/ACK/BYE/200) through
the routing core under ``valgrind --tool=callgrind``, N and 2N times, and prints
``(Ir(2N) - Ir(N)) / N``: the instructions one iteration costs, start-up excluded.
Instruction counts do not depend on the machine's load (CPU time does), so small
differences are real::

    python bench/route_callgrind.py [--n 150] [--scenarios options,register,...]
                                    [--route FILE.py] [--baseline DIR [--baseline-mode M]]

About a minute of valgrind per run (2 runs per scenario and tree). ``--route``: another
script than kamtool's default route. ``--baseline DIR``: also measure the checkout in DIR
(e.g. ``git archive REV | tar -x -C DIR``) with its own ``bench/route_callgrind.py``;
``--baseline-mode builtin`` measures the route once coded in Python there (trees before
the route split), ``route`` (default) its KSR route. ``register_noauth`` needs a baseline
that has it (trees before it measured a call under that name).
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

SCENARIOS = ("options", "register", "register_noauth", "message", "call")


def child(mode: str, scenario: str, n: int, route: str | None) -> None:
    """One scenario ``n`` times through one proxy (what valgrind measures); ``mode``:
    ``route`` (this tree has no other)."""
    import proxy_core as b

    from kamtool.proxy.auth import Authenticator
    from kamtool.proxy.config import Listen, ProxyConfig
    from kamtool.proxy.script import load_script
    from kamtool.proxy.server import tune_gc
    from kamtool.proxy.stats import Statistics
    from kamtool.proxy.timers import TimerHeap
    from kamtool.proxy.usrloc import Binding, LocationStore
    from kamtool.proxy.wiring import build_proxy
    from kamtool.sip.digest import answer_challenge, parse_challenge
    from kamtool.sip.parser import parse_message

    if mode != "route":
        raise SystemExit(f"mode {mode!r}: this tree runs route scripts only")
    if scenario not in SCENARIOS:
        raise SystemExit(f"scenario {scenario!r}: not one of {', '.join(SCENARIOS)}")
    loop = asyncio.new_event_loop()
    cfg = ProxyConfig(listen=(Listen("udp", "127.0.0.1", 5060),), rpc_listen=None,
                      pike_reqs_density_per_unit=10**9, auth_qop=False,
                      auth=scenario != "register_noauth")  # fmt: skip
    wire = b.Wire()
    usrloc = LocationStore(db_mode=0)
    r = build_proxy(cfg, script=load_script(route) if route else None, timers=TimerHeap(loop),
                    usrloc=usrloc, auth=Authenticator(None, lookup=lambda u, d: b.Row(), qop=False,
                                      nonce_count=False, one_time_nonce=False),
                    stats=Statistics(), transports=wire)  # fmt: skip
    usrloc.save(Binding(aor="1001", contact="sip:1001@127.0.0.1:5999",
                          expires=time.time() + 3600, q=-1.0, callid="x", cseq=1,
                          socket="udp:127.0.0.1:5060"))  # fmt: skip
    sink, peer, callee = b.Sink(), ("127.0.0.2", 5998), ("127.0.0.1", 5999)
    creds = ""
    if cfg.auth:
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
        elif scenario == "register_noauth":
            r.receive(b.register(i + 2, None, "n"), sink, callee)
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
    if status not in (200, 401) or (scenario.startswith("register") and status != 200):
        raise SystemExit(f"{scenario}: unexpected last answer {status}")


def instructions(mode: str, scenario: str, n: int, route: str | None,
                 tree: Path = ROOT) -> int:  # fmt: skip
    """Ir of one child run under callgrind (of the checkout in ``tree``)."""
    script = tree / "bench" / "route_callgrind.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, str(script), "--child", mode, scenario, str(n)]  # fmt: skip
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
    ap.add_argument("--baseline", type=Path, help="a checkout to compare with")
    ap.add_argument("--baseline-mode", default="route", choices=("route", "builtin"))
    ap.add_argument("--child", nargs=3, metavar=("MODE", "SCENARIO", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown and not args.child:
        ap.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.route)
        return
    print(f"{'scenario':10} {'baseline':>14} {'this tree':>14}  difference")
    for scenario in args.scenarios.split(","):

        def per_iteration(mode: str, tree: Path, scenario: str = scenario) -> float:
            low = instructions(mode, scenario, args.n, args.route, tree)
            high = instructions(mode, scenario, 2 * args.n, args.route, tree)
            return (high - low) / args.n

        mine = per_iteration("route", ROOT)
        if args.baseline is None:
            print(f"{scenario:10} {'-':>14} {mine:14,.0f}")
            continue
        base = per_iteration(args.baseline_mode, args.baseline.resolve())
        diff = 100 * (mine / base - 1)
        print(f"{scenario:10} {base:14,.0f} {mine:14,.0f}  {diff:+.1f}%")


if __name__ == "__main__":
    main()
