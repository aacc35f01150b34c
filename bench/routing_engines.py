"""Speed of kamtool's pure routing engines (what the proxy will run per request): dialplan
translation, mtree longest-prefix match and lcr gateway selection, on tables of realistic
size. Prints CPU time to load and lookups per CPU second (process time: a busy machine does not
skew it).

    python bench/routing_engines.py [--seconds 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kamtool.core.dialplan_engine import Dialplan
from kamtool.core.lcr_engine import Gateway, Lcr, LcrRule
from kamtool.core.mtree_engine import Mtree


def rate(fn, inputs: list, seconds: float) -> float:
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for value in inputs:
            fn(value)
        n += len(inputs)
    return n / (time.process_time() - start)


def timed(build):
    start = time.process_time()
    result = build()
    return result, time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rnd = random.Random(7)
    numbers = [str(rnd.randrange(10**9, 10**12)) for _ in range(1000)]
    results = {}

    rows = [
        {"id": i, "dpid": 1, "pr": i, "match_op": 1, "match_exp": f"^{p:03d}",
         "match_len": 0, "subst_exp": f"^{p:03d}(.*)$", "repl_exp": f"+{p}\\1", "attrs": ""}
        for i, p in enumerate(rnd.sample(range(1000), 200))
    ]  # fmt: skip
    plan, load = timed(lambda: Dialplan.from_rows(rows))
    results["dialplan 200 regex rules"] = (
        load,
        rate(lambda v: plan.translate(1, v), numbers, args.seconds),
    )

    prefixes = {str(rnd.randrange(10**3, 10**8)) for _ in range(100_000)}
    mrows = [{"tname": "t", "tprefix": p, "tvalue": "v" + p} for p in prefixes]
    trees, load = timed(lambda: Mtree.from_rows(mrows))
    results["mtree 100k prefixes"] = (
        load,
        rate(lambda v: trees.match("t", v), numbers, args.seconds),
    )

    gws = [Gateway(id=i, lcr_id=1, ip_addr=f"10.0.{i // 250}.{i % 250}") for i in range(1, 101)]
    rules = [
        LcrRule(i, 1, str(p), targets=[
            (rnd.randrange(1, 101), rnd.randrange(3), 1 + rnd.randrange(5)) for _ in range(3)
        ])
        for i, p in enumerate(rnd.sample(range(10, 10_000), 1000), 1)
    ]  # fmt: skip
    lcr, load = timed(lambda: Lcr(gws, rules))
    results["lcr 1000 rules x 3 targets"] = (
        load,
        rate(lambda v: lcr.select(1, v), numbers, args.seconds),
    )

    if args.json:
        print(
            json.dumps(
                {k: {"load_s": round(a, 4), "per_s": round(b)} for k, (a, b) in results.items()}
            )
        )
        return
    for name, (load, per_s) in results.items():
        print(f"{name:32} load {load * 1000:8.1f} ms   {per_s:10,.0f} lookups/s")


if __name__ == "__main__":
    main()
