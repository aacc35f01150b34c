"""What ``[proxy] hep`` costs ``kamtool serve`` end to end: server CPU per 1,000 SIPp
transactions with the HEP agent off and on, at the same fixed rate.

Uses ``sipp_compare.py``'s harness (server start, SIPp, CPU from /proc). The HEP goes to
a loopback port where nothing listens (the kernel's whole send path, no reader competing
for the CPU). The two servers run one after the other, alternating, ``--rounds`` times;
read the ratio, not the absolute numbers (other jobs share the machine).

    PYTHONPATH=$PWD python bench/hep_sipp.py [--rate 1000] [--seconds 5] [--rounds 2] [--json]

(PYTHONPATH: the servers run `python -m kamtool` from a scratch directory.)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _sipp_compare():
    spec = importlib.util.spec_from_file_location("bench_sipp_compare", HERE / "sipp_compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=1000, help="calls per second (default 1000)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sc = _sipp_compare()
    users = [(str(1000 + i), f"pw{i}") for i in range(20)]
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hep-sipp-") as tmp:
        work = Path(tmp)
        users_csv = sc.write_users_csv(work / "users.csv", users)
        for round_ in range(args.rounds):
            for mode in ("off", "on"):
                run_dir = work / f"{mode}-{round_}"
                run_dir.mkdir()
                cfg = run_dir / "kamtool.toml"
                hep = f'hep = "udp:127.0.0.1:{sc.free_port()}"\n' if mode == "on" else ""
                cfg.write_text(f"[proxy]\n{hep}")
                with sc.KamtoolServer(run_dir, users, extra=["--config", str(cfg)]) as server:
                    for name in ("options", "register"):
                        step = sc.run_step(f"kamtool hep {mode}", sc.WORKLOADS[name],
                                           server.port, server.pgid, args.rate, args.seconds,
                                           users_csv, run_dir)  # fmt: skip
                        per = step.cpu_per_1000_tx
                        if step.passed and per is not None:
                            results.setdefault(name, {}).setdefault(mode, []).append(per)
    if args.json:
        print(json.dumps({"rate": args.rate, "cpu_s_per_1000_tx": results}))
        return
    print(f"server CPU seconds per 1,000 transactions at {args.rate} calls/s "
          f"({args.rounds} rounds each):")  # fmt: skip
    for name, modes in results.items():
        off, on = modes.get("off", []), modes.get("on", [])
        line = f"  {name:<9} hep off {_span(off)}   hep on {_span(on)}"
        if off and on:
            line += f"   on/off {min(on) / min(off):.2f}"
        print(line)


def _span(values: list[float]) -> str:
    if not values:
        return "   (failed)"
    return f"{min(values):.3f}-{max(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


if __name__ == "__main__":
    main()
