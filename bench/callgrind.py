"""Instructions per message of the proxy's routing core, counted by valgrind's callgrind.

    python bench/callgrind.py [--n 2000] [--route default|FILE.py] [--json]
                              [--tree DIR] [--keep DIR]

Runs ``bench/proxy_core.py --markers`` under ``valgrind --tool=callgrind``: callgrind zeroes
its counters when Python calls ``os.getppid()`` (the C function ``os_getppid``) and dumps
them at ``os.getpgrp()``, which proxy_core does around each scenario, so each dump holds the
instructions of one scenario alone (start-up, imports and set-up excluded). The relays' own
harness (building the callee's answers) is replayed alone and subtracted.

Unlike CPU time, an instruction count does not depend on the machine's load, so a change can
be judged on a busy machine. It is not time: cache misses and branch mispredictions are not
in it. ``PYTHONHASHSEED=0`` keeps dict and set layouts the same from run to run.
``--tree`` measures the kamtool package of another checkout (e.g. a worktree of another
branch) with this script's proxy_core.py (copied next to a link to that package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START, STOP = "os_getppid", "os_getpgrp"
_TOTALS = re.compile(r"^(?:totals|summary):\s*(\d+)", re.M)
HARNESS = " harness"


def parse_marks(stdout: str) -> list[tuple[str, int, str]]:
    """``MARK name<TAB>count<TAB>unit`` lines of proxy_core.py, in order."""
    marks = []
    for line in stdout.splitlines():
        if line.startswith("MARK "):
            name, count, unit = line[5:].split("\t")
            marks.append((name, int(count), unit))
    return marks


def dump_totals(files: list[Path]) -> list[int]:
    """The instruction total of each callgrind dump, in dump order (``out.1``, ``out.2``...)."""
    numbered = sorted(
        (int(f.name.rsplit(".", 1)[1]), f) for f in files if f.name.rsplit(".", 1)[1].isdigit()
    )
    totals = []
    for _, f in numbered:
        m = _TOTALS.search(f.read_text(errors="replace"))
        totals.append(int(m.group(1)) if m else 0)
    return totals


def per_message(marks: list[tuple[str, int, str]], totals: list[int]) -> list[dict]:
    """Instructions per unit of each scenario, its harness (if any) subtracted."""
    if len(totals) < len(marks):
        raise RuntimeError(f"{len(marks)} marks but {len(totals)} callgrind dumps")
    by_name = {
        name: (count, total)
        for (name, count, _), total in zip(marks, totals[: len(marks)], strict=True)
    }
    rows = []
    for name, count, unit in marks:
        if name.endswith(HARNESS):
            continue
        total = by_name[name][1]
        harness = by_name.get(name + HARNESS)
        if harness:
            total -= harness[1] * count // harness[0]
        rows.append({"scenario": name, "unit": unit, "count": count,
                     "instructions": round(total / count)})  # fmt: skip
    return rows


def bench_script(tree: Path | None, out_dir: Path) -> Path:
    """proxy_core.py, or a copy of it that imports the kamtool package of ``tree``.

    proxy_core.py puts its parent's parent first on sys.path, so the copy goes in
    ``out_dir/tree/bench/`` next to a link ``out_dir/tree/kamtool``.
    """
    if tree is None:
        return HERE / "proxy_core.py"
    if not (tree / "kamtool" / "__init__.py").is_file():
        raise SystemExit(f"{tree} holds no kamtool package")
    (out_dir / "tree" / "bench").mkdir(parents=True)
    (out_dir / "tree" / "kamtool").symlink_to((tree / "kamtool").resolve())
    return Path(shutil.copy(HERE / "proxy_core.py", out_dir / "tree" / "bench"))


def run(n: int, route: str | None, tree: Path | None, out_dir: Path) -> list[dict]:
    """One callgrind run of proxy_core.py; rows of instructions per message."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    script = bench_script(tree, out_dir)
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/cg.out",
        f"--zero-before={START}", f"--dump-before={STOP}", "--dump-instr=no",
        sys.executable, str(script), "--n", str(n), "--markers",
    ]  # fmt: skip
    if route:
        cmd += ["--route", route]
    env = os.environ | {"PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"proxy_core.py under callgrind failed:\n{proc.stderr[-3000:]}")
    return per_message(parse_marks(proc.stdout), dump_totals(list(out_dir.glob("cg.out.*"))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="messages per scenario (calls: n/4)")
    ap.add_argument("--route", help="a KEMI route script, or 'default' (kamtool's)")
    ap.add_argument("--tree", type=Path, help="the checkout to measure (default: this one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the callgrind dumps in this directory")
    args = ap.parse_args()
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="kt-callgrind-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        rows = run(args.n, args.route, args.tree, out_dir)
    finally:
        if args.keep is None:
            shutil.rmtree(out_dir, ignore_errors=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    tree = args.tree or ROOT
    print(f"callgrind, {args.n} messages per scenario, route {args.route or 'default'}, {tree}")
    for r in rows:
        print(f"{r['scenario']:16} {r['instructions']:>10,} instructions/{r['unit']}")


if __name__ == "__main__":
    main()
