"""SIPp against kamtool's proxy and a real Kamailio 5.6 in the same run: best rate, CPU, latency.

    python bench/sipp_compare.py [--step-seconds 3] [--budget 30] [--users 3] [--hold-ms 1000]
        [--workloads options,register,register_noauth,call,call_digest]
        [--servers kamtool,kamailio] [--workers 2] [--kamailio-children 2] [--transport un]
        [--json-out sipp_compare.json] [--keep]

Workloads (scenarios in bench/sipp/):
  options          OPTIONS to the proxy itself; both answer 200 keepalive (1 transaction per call).
  register         REGISTER with digest auth, users from a SIPp injection file (401, then 200:
                   2 transactions per call). Both servers get the same subscribers.
  register_noauth  REGISTER, 200, against a second pair of servers started without
                   authentication (kamtool --no-auth; Kamailio's route[AUTH] returns at once).
  call             INVITE from a foreign domain (no digest asked), 100/180/200 from a SIPp
                   callee registered behind the proxy, ACK, hold, BYE, 200 (2 transactions).
  call_digest      the same from a local subscriber: INVITE, 407, ACK, INVITE with
                   credentials, ... (3 transactions).

For each server and workload the call rate is stepped up (doubling from --start-rate, then
bisecting between the last pass and the first fail) until the time budget is spent. A step
passes when fewer than 0.5% of its calls fail (a call without its final reply counts as
failed; each reply times out after 2 s) and SIPp finishes the step on time, i.e. the server
kept up with the offered rate. Then every server runs one more step at half of kamtool's
best rate (the issue's p99 target). CPU is the server's utime+stime from /proc/<pid>/stat,
summed over its process group (Kamailio's workers and timers; kamtool's process(es)), before
and after each step, divided by the transactions (and calls) that step completed. p50/p99 are
SIPp's response time 1 (-trace_rtt, whole milliseconds): request sent to final 200 received
(for the calls: first INVITE to its 200, the callee's answer included).

With a ``--workers N`` column SIPp opens a socket per call (``-t un``) for every server in
the run: Linux spreads datagrams over the workers by source address, so SIPp's usual single
socket would reach one worker only (``--transport`` overrides).

Everything runs on 127.0.0.1. The servers share the machine with SIPp (and with whatever else
runs there): read the ratio kamtool/Kamailio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Re-exported: bench/overload.py and tests/bench use these names from here.
from bench.sippbench.measure import (  # noqa: E402, F401
    _COUNTER,
    SCENARIOS,
    WORKLOADS,
    Step,
    Workload,
    cpu_seconds,
    find_best_rate,
    group_pids,
    parse_counts,
    parse_rtt_csv,
    percentile,
    run_sipp,
    run_step,
    sipp_command,
    wait_idle,
    write_users_csv,
)
from bench.sippbench.report import best, markdown_table, summary  # noqa: E402
from bench.sippbench.servers import (  # noqa: E402, F401
    PIKE_SAFE_REQUESTS,
    SEED_USERS,
    Callee,
    KamailioServer,
    KamtoolServer,
    kamtool_has_workers,
)


def make_servers(args: argparse.Namespace, auth: bool, notes: list[str]) -> list:
    """(name, factory(work, users)) of the servers (not started) for one authentication mode."""
    made = []
    for name in args.servers.split(","):
        if name == "kamtool":
            made.append((name, functools.partial(KamtoolServer, auth=auth)))
            if args.workers > 1:
                if kamtool_has_workers():
                    wname = f"kamtool-w{args.workers}"
                    extra = ["--workers", str(args.workers)]
                    made.append(
                        (
                            wname,
                            functools.partial(KamtoolServer, extra=extra, name=wname, auth=auth),
                        ),
                    )
                elif not notes:
                    notes.append(
                        f"kamtool --workers {args.workers}: skipped, `kamtool serve` has no "
                        "--workers option yet (issue #17 item 3)."
                    )
        elif name == "kamailio":
            made.append(
                (
                    name,
                    functools.partial(KamailioServer, children=args.kamailio_children, auth=auth),
                ),
            )
        else:
            raise SystemExit(f"unknown server {name!r} (kamtool, kamailio)")
    return made


def run_workload(server, wl: Workload, args, users_csv: Path, callee: str, rate: int | None,
                 record: list[Step]) -> list[Step]:  # fmt: skip
    """The rate search for one server and workload (``rate`` given: one step at that rate)."""

    def run(r: int, again: bool = True) -> Step:
        step = run_step(
            server.name, wl, server.port, server.pgid, r, args.step_seconds, users_csv,
            server.work, callee, args.hold_ms, transport=args.transport,
        )  # fmt: skip
        step.tags.append("search" if rate is None else "half")
        if getattr(server, "check", lambda: False)():  # Kamailio's pike banned SIPp
            print(f"{server.name}: pike banned 127.0.0.1 at {r} cps; ban lifted", flush=True)
            if again:
                return run(r, again=False)
            step.passed = False  # twice in a row: a failed step, said in the table's notes
            step.tags.append("pike-ban")
        print(json.dumps(asdict(step) | {"cpu_us_per_tx": step.cpu_us_per_tx}), flush=True)
        record.append(step)
        return step

    if rate is not None:
        return [run(rate)]
    max_rate = min(args.max_rate, PIKE_SAFE_REQUESTS // wl.requests)
    extra = args.hold_ms / 1000 if wl.call else 0
    return find_best_rate(
        run, args.start_rate, max_rate, args.budget, args.step_seconds + 1 + extra
    )


def run_group(args, workloads: list[Workload], auth: bool, users, users_csv: Path, work: Path,
              results: dict, notes: list[str]) -> None:  # fmt: skip
    """Start the servers of one authentication mode and run their workloads, in turns."""
    callee = users[-1]
    with contextlib.ExitStack() as stack:
        # The servers run together and take turns per workload, so they see the same
        # machine load (the idle ones only run their timers).
        running = []
        for name, make in make_servers(args, auth, notes):
            where = work / f"{name}-{'auth' if auth else 'noauth'}"
            where.mkdir()
            running.append(stack.enter_context(make(where, users)))
        for wl in workloads:
            callees = {}
            with contextlib.ExitStack() as calls:
                if wl.call:
                    for s in running:
                        callees[s.name] = calls.enter_context(Callee(s, callee, s.work))
                for s in running:
                    results[(s.name, wl.name)] = run_workload(
                        s, wl, args, users_csv, callee[0], None, []
                    )
                kt = best(results.get(("kamtool", wl.name), []))
                if kt is not None:  # everyone at half of kamtool's best rate
                    for s in running:
                        results[(s.name, wl.name)] += run_workload(
                            s, wl, args, users_csv, callee[0], max(kt.rate // 2, 1), []
                        )


def _load(avg: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in avg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step-seconds", type=float, default=3.0, help="length of one rate step")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds per server and workload")
    ap.add_argument("--start-rate", type=int, default=250)
    ap.add_argument(
        "--max-rate", type=int, default=32000, help="calls/s; fewer when pike would ban SIPp"
    )
    ap.add_argument("--users", type=int, default=3, help="subscribers 1001.. (>= 2)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--servers", default="kamtool,kamailio")
    ap.add_argument("--workers", type=int, default=2, help="kamtool serve --workers N column")
    ap.add_argument("--hold-ms", type=int, default=1000, help="calls: ACK to BYE")
    ap.add_argument(
        "--transport", choices=("auto", "u1", "un"), default="auto",
        help="SIPp's -t for every server: u1 one socket, un one per call (the kernel spreads "
        "those over kamtool's workers); auto: un when a --workers column runs",
    )  # fmt: skip
    ap.add_argument(
        "--kamailio-children", type=int, default=2, help="UDP workers (reference cfg: 2)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work dir (DBs, logs)")
    ap.add_argument("--json-out", type=Path, default=Path("sipp_compare.json"))
    args = ap.parse_args()
    if args.transport == "auto":
        workers_column = "kamtool" in args.servers.split(",") and args.workers > 1
        args.transport = "un" if workers_column else "u1"

    users = [(str(1001 + i), f"secret{1001 + i}") for i in range(max(args.users, 2))]
    workloads = [WORKLOADS[w] for w in args.workloads.split(",")]
    work = Path(tempfile.mkdtemp(prefix="kt-sipp-bench-"))
    # the last user is the callee (registered by the SIPp UAS), the others call and register
    users_csv = write_users_csv(work / "users.csv", users[:-1])
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    t0 = time.monotonic()
    print(
        f"{started}  load average {load_before}  cpus {os.cpu_count()}  "
        f"kamailio children {args.kamailio_children}  work dir {work}", flush=True,
    )  # fmt: skip

    results: dict[tuple[str, str], list[Step]] = {}
    notes: list[str] = []
    for auth in (True, False):
        group = [wl for wl in workloads if wl.auth == auth]
        if group:
            run_group(args, group, auth, users, users_csv, work, results, notes)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    rows = summary(results)
    banned = [s for steps in results.values() for s in steps if "pike-ban" in s.tags]
    if banned:
        notes.append(
            "Kamailio's pike banned SIPp twice in a row (steps counted as failed) at: "
            + ", ".join(f"{s.workload} {s.rate} cps" for s in banned)
        )
    load_after = os.getloadavg()
    notes.append(
        f"{started}, {time.monotonic() - t0:.0f} s; load average before {_load(load_before)}, "
        f"after {_load(load_after)}; {os.cpu_count()} CPUs; "
        f"Kamailio children={args.kamailio_children}; calls held {args.hold_ms} ms; "
        f"SIPp -t {args.transport}."
    )
    print()
    print(markdown_table(rows, notes))
    args.json_out.write_text(
        json.dumps(
            {
                "started": started,
                "cpus": os.cpu_count(),
                "kamailio_children": args.kamailio_children,
                "hold_ms": args.hold_ms,
                "load_before": load_before,
                "load_after": load_after,
                "notes": notes,
                "steps": [asdict(s) for steps in results.values() for s in steps],
                "summary": rows,
            },
            indent=2,
        )
    )
    print(f"\nJSON: {args.json_out}")


if __name__ == "__main__":
    main()
