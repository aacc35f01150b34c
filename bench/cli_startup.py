"""Wall time of ``kamtool --help`` and ``kamtool add`` against ``kamctl add``, same SQLite DB.

    PYTHONPATH=$PWD python bench/cli_startup.py [--runs 15] [--json] [--module]
        [--no-bytecode-cache] [--no-imports]

Creates a throwaway SQLite database with ``kamtool dbctl create``, then alternates
``kamtool add kt<i> pw`` and ``kamctl add kc<i> pw`` (kamctl reads a ./kamctlrc with
KAMCTL_TEST=1, DBENGINE=SQLITE, as the reference start script does) so that both see the
same machine load, and an empty interpreter (``python -c pass``: the floor every Python CLI
pays on this machine) in the same loop. Reports median / p90 / min wall time and the median
CPU time per command, kamtool's time above the empty interpreter, the ratio kamtool:kamctl,
and the import time of the heavy dependencies (``python -c 'import X'`` minus an empty
interpreter). The interpreter is ``sys.executable`` itself, never a pyenv shim (a bash script
that adds ~50 ms to every command); modules load from bytecode unless --no-bytecode-cache
(see :func:`python_env`). The target is <= 150 ms for ``kamtool add`` on the development
machine; this is a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def kamtool_cmd(module: bool = False) -> list[str]:
    """The installed console script next to this interpreter (what an operator runs), else
    (or with ``module``) ``python -m kamtool``. Either imports kamtool from ``PYTHONPATH``
    first, so ``PYTHONPATH=<tree>`` measures that tree: :func:`measured_tree` says which."""
    script = Path(sys.executable).with_name("kamtool")
    if script.exists() and not module:
        return [str(script)]
    return [sys.executable, "-m", "kamtool"]


def measured_tree() -> str:
    """The directory the kamtool package under test is imported from."""
    code = "import kamtool, os; print(os.path.dirname(os.path.dirname(kamtool.__file__)))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=PY_ENV
    ).stdout.strip()


# The environment of every timed Python run (see python_env).
PY_ENV: dict[str, str] = dict(os.environ)


def python_env(cache: Path | None) -> dict[str, str]:
    """The environment for the timed Python runs.

    With ``cache``, compiled modules are written to and read from that directory
    (``PYTHONPYCACHEPREFIX``), so after the warm-up every module, kamtool's included, loads
    from bytecode, as in an installed package (pip compiles at install time). Without it the
    caller's environment is used as it is: an editable tree under ``PYTHONDONTWRITEBYTECODE=1``
    (the development machine's setting) compiles kamtool's sources on every run.
    """
    env = dict(os.environ)
    if cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(cmd: list[str], **kw) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``cmd``; exits if it fails.

    The CPU time varies much less than the wall time when other work shares the machine.
    """
    kw.setdefault("env", PY_ENV)
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return elapsed, _children_cpu() - cpu


def timed(cmd: list[str], **kw) -> float:
    return run_timed(cmd, **kw)[0]


# Modules whose import cost is reported: the CLI's, its renderer's, the ORM with and without
# the server drivers (kamtool.db.orm hides them), and kamtool's root command module.
IMPORTS = (
    "typer",
    "typer.rich_utils",
    "rich.console",
    "peewee",
    "kamtool.db.orm",
    "pymysql",
    "psycopg2",
    "kamtool.cli.main",
)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(p90 * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "runs": len(ordered),
    }


def import_cost(module: str, runs: int) -> float:
    """Median extra wall time (ms) of ``import module`` over an empty interpreter."""
    base, withm = [], []
    for _ in range(runs):
        base.append(timed([sys.executable, "-c", "pass"]))
        withm.append(timed([sys.executable, "-c", f"import {module}"]))
    return round((statistics.median(withm) - statistics.median(base)) * 1000, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--no-imports", action="store_true", help="skip the dependency import costs")
    ap.add_argument(
        "--module", action="store_true", help="run python -m kamtool, not the console script"
    )
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep the environment's bytecode setting (see python_env)",
    )
    args = ap.parse_args()

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="kt-bench-"))
    global PY_ENV
    PY_ENV = python_env(None if args.no_bytecode_cache else work / "pycache")
    try:
        db = work / "kamailio.sqlite"
        url = "sqlite:///" + str(db)
        cmd = kamtool_cmd(args.module)
        kt = [*cmd, "--db", url, "--domain", "127.0.0.1"]
        timed([*kt, "dbctl", "create"])
        (work / "kamctlrc").write_text(f"DBENGINE=SQLITE\nDB_PATH={db}\nSIP_DOMAIN=127.0.0.1\n")
        kamctl_env = dict(os.environ, KAMCTL_TEST="1")
        have_kamctl = shutil.which("kamctl") is not None

        results: dict[str, list[float]] = {
            "python -c pass": [],
            "kamtool --help": [],
            "kamtool add": [],
        }
        if have_kamctl:
            results["kamctl add"] = []
        cpu_results: dict[str, list[float]] = {name: [] for name in results}
        # warm the page cache (and the bytecode cache) once
        timed([*kt, "--help"])
        timed([*kt, "add", "warm-up", "pw"])
        timed([sys.executable, "-c", "pass"])
        for i in range(args.runs):
            runs = {
                "python -c pass": run_timed([sys.executable, "-c", "pass"]),
                "kamtool --help": run_timed([*cmd, "--help"]),
                "kamtool add": run_timed([*kt, "add", f"kt{i}", "pw"]),
            }
            if have_kamctl:
                runs["kamctl add"] = run_timed(
                    ["kamctl", "add", f"kc{i}", "pw"], cwd=work, env=kamctl_env
                )
            for name, (wall, cpu) in runs.items():
                results[name].append(wall)
                cpu_results[name].append(cpu)

        report: dict[str, object] = {name: summary(s) for name, s in results.items()}
        report["cpu_median_ms"] = {
            name: round(statistics.median(s) * 1000, 1) for name, s in cpu_results.items()
        }
        floor = statistics.median(results["python -c pass"])
        report["above_empty_interpreter_ms"] = {
            name: round((statistics.median(results[name]) - floor) * 1000, 1)
            for name in ("kamtool --help", "kamtool add")
        }
        report["command"] = cmd
        report["tree"] = measured_tree()
        report["bytecode"] = (
            "as the environment has it" if args.no_bytecode_cache else "cached (as installed)"
        )
        if have_kamctl:
            report["ratio_add_kamtool_to_kamctl"] = round(
                statistics.median(results["kamtool add"])
                / statistics.median(results["kamctl add"]),
                3,
            )
        runs = max(3, args.runs // 3)
        report["import_ms"] = {m: import_cost(m, runs) for m in IMPORTS if not args.no_imports}
        report["load_average"] = {"before": load_before, "after": os.getloadavg()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name in results:
        s = report[name]
        print(
            f"{name:16} median {s['median_ms']:7.1f} ms"
            f"  p90 {s['p90_ms']:7.1f}  min {s['min_ms']:7.1f}"
        )
    cpu = report["cpu_median_ms"]
    print("CPU time (user+sys, median, ms):", ", ".join(f"{k} {v}" for k, v in cpu.items()))
    above = report["above_empty_interpreter_ms"]
    print("above python -c pass (median, ms):", ", ".join(f"{k} {v}" for k, v in above.items()))
    print("measured:", " ".join(cmd), "from", report["tree"], "- bytecode", report["bytecode"])
    if have_kamctl:
        print(f"kamtool add / kamctl add (median): {report['ratio_add_kamtool_to_kamctl']}")
    if report["import_ms"]:
        print("import cost (ms):", ", ".join(f"{k} {v}" for k, v in report["import_ms"].items()))
    load = report["load_average"]
    print(
        "load average (1/5/15 min):",
        " -> ".join(" ".join(f"{x:.2f}" for x in load[k]) for k in ("before", "after")),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
