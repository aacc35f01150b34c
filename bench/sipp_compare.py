"""SIPp against kamtool's proxy and a real Kamailio 5.6 in the same run: best rate and CPU cost.

    python bench/sipp_compare.py [--step-seconds 3] [--budget 55] [--users 3]
                                 [--workloads options,register] [--servers kamtool,kamailio]
                                 [--kamailio-children 2] [--json-out results.json]

Workloads (scenarios in bench/sipp/):
  options   OPTIONS to the proxy itself; both answer 200 keepalive (1 transaction per call).
  register  REGISTER with digest auth, users from a SIPp injection file (401, then 200:
            2 transactions per call). Both servers get the same subscribers.

For each server and workload the call rate is stepped up (doubling from --start-rate, then
bisecting between the last pass and the first fail) until the time budget is spent. A step
passes when fewer than 0.5% of its calls fail (a call without its final reply counts as
failed; each reply times out after 2 s) and SIPp finishes the step on time, i.e. the server
kept up with the offered rate. CPU is the server's utime+stime from /proc/<pid>/stat, summed
over its process group (Kamailio's workers and timers; kamtool's one process), before and
after each step, divided by the transactions that step completed.

Everything runs on 127.0.0.1. The servers share the machine with SIPp (and with whatever else
runs there): read the ratio kamtool/Kamailio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent / "sipp"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_FAILED = 0.005  # a step passes below 0.5% failed calls
SEED_USERS = [("1001", "secret1001"), ("1002", "secret1002"), ("1003", "secret1003")]


@dataclass(frozen=True)
class Workload:
    name: str
    scenario: str
    tx_per_call: int
    uses_users: bool


WORKLOADS = {
    "options": Workload("options", "options.xml", 1, False),
    "register": Workload("register", "register_digest.xml", 2, True),
}


@dataclass
class Step:
    """One SIPp run at a fixed rate and what it cost the server."""

    server: str
    workload: str
    rate: int
    calls: int
    ok: int
    failed: int
    wall_s: float
    cpu_s: float
    passed: bool

    @property
    def cpu_per_1000_tx(self) -> float | None:
        tx = self.ok * WORKLOADS[self.workload].tx_per_call
        return 1000 * self.cpu_s / tx if tx else None


# ---------------------------------------------------------------- /proc


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields after "pid (comm)", so state is [0]


def group_pids(pgid: int) -> list[int]:
    """Every live process whose process group is ``pgid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and int(fields[2]) == pgid:
                pids.append(int(entry))
    return pids


def cpu_seconds(pgid: int) -> float:
    """utime + stime (all threads) of the process group ``pgid``, in seconds."""
    ticks = 0
    for pid in group_pids(pgid):
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


# ---------------------------------------------------------------- SIPp

_COUNTER = re.compile(r"^\s*(Successful|Failed) call\s*\|\s*\d+\s*\|\s*(\d+)", re.M)


def write_users_csv(path: Path, users: list[tuple[str, str]]) -> Path:
    """A SIPp injection file: field0 the user, field1 its [authentication] keyword."""
    lines = ["SEQUENTIAL"]
    lines += [f"{u};[authentication username={u} password={p}]" for u, p in users]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_sipp(
    workload: Workload, port: int, rate: int, calls: int, users_csv: Path | None, cwd: Path
) -> tuple[int, float]:
    """Run ``calls`` calls at ``rate`` cps against 127.0.0.1:port; (successful calls, wall s)."""
    cmd = [
        "sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIOS / workload.scenario),
        "-i", "127.0.0.1", "-p", str(free_port()), "-r", str(rate), "-m", str(calls),
        "-l", str(max(rate * 3, 10)), "-nostdin", "-max_recv_loops", "10000",
        "-timeout", f"{calls / rate + 8:.0f}s", "-timeout_error",
    ]  # fmt: skip
    if workload.uses_users:
        if users_csv is None:
            raise ValueError(f"{workload.name} needs an injection file of users")
        cmd += ["-inf", str(users_csv)]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=calls / rate + 30, cwd=cwd
    )  # fmt: skip
    wall = time.monotonic() - t0
    counts = dict(_COUNTER.findall(proc.stdout + proc.stderr))
    return int(counts.get("Successful", 0)), wall


def run_step(
    server: str,
    workload: Workload,
    port: int,
    pgid: int,
    rate: int,
    seconds: float,
    users_csv: Path | None,
    cwd: Path,
) -> Step:
    """One rate step; failed = calls that did not complete (error, timeout or never sent)."""
    calls = max(int(rate * seconds), 1)
    wait_idle(pgid)
    before = cpu_seconds(pgid)
    ok, wall = run_sipp(workload, port, rate, calls, users_csv, cwd)
    cpu = cpu_seconds(pgid) - before
    failed = calls - ok
    # On time: SIPp throttles itself (-l) instead of failing when replies lag, so a step
    # that ran much longer than calls/rate means the server did not keep up.
    on_time = wall <= seconds * 1.25 + 0.75
    passed = failed < MAX_FAILED * calls and on_time
    return Step(
        server, workload.name, rate, calls, ok, failed, round(wall, 2), round(cpu, 3), passed
    )


def wait_idle(pgid: int, timeout: float = 5.0) -> None:
    """Until the server has drained what an overloaded step left in its socket buffer.

    Idle means under 5% of a core over 0.25 s; without this the next step would pay for
    the previous one's backlog.
    """
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pgid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pgid)
        if now - last < 0.0125:
            return
        last = now


def find_best_rate(
    run: Callable[[int], Step],
    start_rate: int,
    max_rate: int,
    budget_s: float,
    step_s: float = 0.0,
) -> list[Step]:
    """Double the rate until a step fails, then bisect (to ~5%) while the budget lasts.

    A step starts only if ``step_s`` seconds of budget remain.
    """
    steps: list[Step] = []
    deadline = time.monotonic() + budget_s
    good, bad = 0, None
    rate = start_rate
    while time.monotonic() + step_s < deadline:
        step = run(rate)
        steps.append(step)
        if step.passed:
            good = rate
        else:
            bad = rate
        if bad is None:
            if rate >= max_rate:
                break
            rate = min(rate * 2, max_rate)
        else:
            if bad - good <= max(good * 0.05, 10):
                break
            rate = (good + bad) // 2 if good else max(bad // 4, 1)
            if rate in (good, bad):
                break
    return steps


# ---------------------------------------------------------------- servers


def wait_answering(port: int, cwd: Path, timeout: float = 30) -> None:
    """Until the server at 127.0.0.1:port answers one OPTIONS."""
    deadline = time.monotonic() + timeout
    while run_sipp(WORKLOADS["options"], port, 10, 1, None, cwd)[0] != 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers OPTIONS on 127.0.0.1:{port}")
        time.sleep(0.2)


class KamtoolServer:
    """``python -m kamtool serve`` on a fresh SQLite DB with the given subscribers."""

    name = "kamtool"

    def __init__(
        self,
        work: Path,
        users: list[tuple[str, str]],
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.work = work
        self.users = users
        self.extra = extra or []  # more serve flags (bench/overload.py: --rpc-listen)
        self.env = env
        self.db_url = "sqlite:///" + str(work / "kamtool.sqlite")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> KamtoolServer:
        kamtool = [sys.executable, "-m", "kamtool", "--db", self.db_url]
        for user, password in self.users:
            subprocess.run(
                [*kamtool, "add", f"{user}@127.0.0.1", password],
                check=True, capture_output=True, timeout=60, cwd=self.work,
            )  # fmt: skip
        self.port = free_port()
        log = (self.work / "kamtool-serve.log").open("wb")
        self.proc = subprocess.Popen(
            [*kamtool, "serve", "--listen", f"udp:127.0.0.1:{self.port}", "--rpc-listen", "",
             "--log-level", "warning", *KAMTOOL_PIKE_LIMITS, *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.work, env=self.env,
        )  # fmt: skip
        log.close()
        try:
            wait_answering(self.port, self.work)
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


# A density of 1000000 per 2 s still banned SIPp at ~17000 hits per unit: pike apparently
# keeps 16-bit counters (1000000 mod 65536 = 16960). 60000 per 1 s stays below 65536 and
# above what SIPp is asked for (see PIKE_SAFE_REQUESTS).
PIKE_DENSITY = 60000
PIKE_LIMITS = {
    'modparam("pike", "sampling_time_unit", 2)': 'modparam("pike", "sampling_time_unit", 1)',
    'modparam("pike", "reqs_density_per_unit", 200)': (
        f'modparam("pike", "reqs_density_per_unit", {PIKE_DENSITY})'
    ),
}
# Requests per second a step may offer: on an idle machine Kamailio passes 16000
# REGISTER calls/s, and the next doubling (32000 calls, 64000 requests/s) got SIPp banned.
PIKE_SAFE_REQUESTS = PIKE_DENSITY * 3 // 4

# kamtool's pike gets the same raised limit (it takes the number as given, no 16 bits).
KAMTOOL_PIKE_LIMITS = ["--pike-unit", "1", "--pike-density", str(PIKE_DENSITY)]


class KamailioServer:
    """Kamailio 5.6 with the reference cfg (tests.support.kamailio) and the same subscribers.

    The reference cfg's pike limit (200 requests per 2 s per source IP, then a 300 s ban)
    would block any load generator, so a copy with that limit raised is used; nothing else
    changes (children=2 UDP workers, usrloc db_mode 2, auth_db on SQLite), except
    ``children`` when asked (1 compares one worker with kamtool's one process).
    """

    name = "kamailio"

    def __init__(self, work: Path, users: list[tuple[str, str]], children: int = 2) -> None:
        self.work = work
        self.users = users
        self.children = children
        self.k = None

    def __enter__(self) -> KamailioServer:
        import tests.support.kamailio as support

        cfg = self.work / "kamailio-bench.cfg"
        text = support.CONFIG.read_text()
        for line, value in PIKE_LIMITS.items():
            if line not in text:
                raise RuntimeError(f"reference cfg changed: {line} not found")
            text = text.replace(line, value)
        if self.children != 2:
            if "\nchildren=2\n" not in text:
                raise RuntimeError("reference cfg changed: children=2 line not found")
            text = text.replace("\nchildren=2\n", f"\nchildren={self.children}\n")
        cfg.write_text(text)
        original, support.CONFIG = support.CONFIG, cfg
        try:
            self.k = support.Kamailio(self.work, db="sqlite", seed=True).start()
        finally:
            support.CONFIG = original
        try:
            for user, password in self.users:
                if (user, password) not in SEED_USERS:  # the seed added 1001..1003
                    self.k.kamctl("add", user, password)
            wait_answering(self.port, self.work)
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def port(self) -> int:
        return self.k.sip_port

    def check(self) -> None:
        """Raise if pike banned the load generator: every later call would fail."""
        if "pike blocking" in self.k.log_text():
            raise RuntimeError(f"Kamailio's pike banned 127.0.0.1; see {self.k.log_file}")

    @property
    def pgid(self) -> int:
        return self.k.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.k is not None:
            self.k.stop()


# ---------------------------------------------------------------- report


def best(steps: list[Step]) -> Step | None:
    passed = [s for s in steps if s.passed]
    return max(passed, key=lambda s: s.rate) if passed else None


def summary(results: dict[tuple[str, str], list[Step]]) -> list[dict]:
    """Per workload: each server's best rate and CPU cost, and the ratios kamtool/Kamailio.

    CPU per 1,000 tx is given at each server's own best rate and at the highest rate both
    passed (same offered load, so idle timers weigh the same on both).
    """
    rows = []
    for workload in dict.fromkeys(w for _, w in results):
        per = {s: results[(s, w)] for s, w in results if w == workload}
        passed_rates = [{s.rate for s in steps if s.passed} for steps in per.values()]
        common = max(set.intersection(*passed_rates), default=None)
        row: dict = {"workload": workload, "common_rate": common}
        for server, steps in per.items():
            b = best(steps)
            at_common = next((s for s in steps if s.rate == common and s.passed), None)
            row[server] = {
                "best_rate_cps": b.rate if b else 0,
                "best_tx_per_s": b.rate * WORKLOADS[workload].tx_per_call if b else 0,
                "cpu_s_per_1000_tx_at_best": _r(b.cpu_per_1000_tx) if b else None,
                "cpu_s_per_1000_tx_at_common": _r(at_common.cpu_per_1000_tx) if at_common else None,
            }
        if "kamtool" in row and "kamailio" in row:
            row["ratio"] = {
                key: _ratio(row["kamtool"][key], row["kamailio"][key])
                for key in row["kamtool"]
                if key != "best_tx_per_s"
            }
        rows.append(row)
    return rows


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def print_table(rows: list[dict]) -> None:
    head = ("workload", "server", "best cps", "tx/s", "CPU s/1k tx @best", "@common rate")
    lines = [head]
    for row in rows:
        for server in ("kamtool", "kamailio", "ratio"):
            if server not in row:
                continue
            d = row[server]
            lines.append(
                (
                    row["workload"],
                    "kamtool/Kamailio" if server == "ratio" else server,
                    _fmt(d.get("best_rate_cps")),
                    _fmt(d.get("best_tx_per_s", "")),
                    _fmt(d.get("cpu_s_per_1000_tx_at_best")),
                    _fmt(d.get("cpu_s_per_1000_tx_at_common"))
                    + (f" ({row['common_rate']} cps)" if server == "kamtool" else ""),
                )
            )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    for i, line in enumerate(lines):
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(x: object) -> str:
    return "-" if x is None else str(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step-seconds", type=float, default=3.0, help="length of one rate step")
    ap.add_argument("--budget", type=float, default=55.0, help="seconds per server and workload")
    ap.add_argument("--start-rate", type=int, default=250)
    ap.add_argument(
        "--max-rate", type=int, default=32000, help="calls/s; fewer when pike would ban SIPp"
    )
    ap.add_argument("--users", type=int, default=3, help="subscribers 1001.. (>= 1)")
    ap.add_argument("--workloads", default="options,register")
    ap.add_argument("--servers", default="kamtool,kamailio")
    ap.add_argument(
        "--kamailio-children", type=int, default=2, help="UDP workers (reference cfg: 2)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work dir (DBs, logs)")
    ap.add_argument("--json-out", type=Path, help="write every step and the summary here")
    args = ap.parse_args()

    users = [(str(1001 + i), f"secret{1001 + i}") for i in range(max(args.users, 1))]
    workloads = [WORKLOADS[w] for w in args.workloads.split(",")]
    servers = {
        "kamtool": KamtoolServer,
        "kamailio": functools.partial(KamailioServer, children=args.kamailio_children),
    }
    chosen = [(name, servers[name]) for name in args.servers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="kt-sipp-bench-"))
    users_csv = write_users_csv(work / "users.csv", users)
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(
        f"{started}  load average {load_before}  cpus {os.cpu_count()}  "
        f"kamailio children {args.kamailio_children}  work dir {work}"
    )

    results: dict[tuple[str, str], list[Step]] = {}
    with contextlib.ExitStack() as stack:
        # Both servers run for the whole benchmark and take turns per workload, so they see
        # the same machine load (the idle one only runs its timers).
        running = []
        for name, make in chosen:
            (work / name).mkdir()
            running.append(stack.enter_context(make(work / name, users)))
        for wl in workloads:
            for server in running:

                def run(rate: int, server=server, wl=wl) -> Step:
                    step = run_step(
                        server.name, wl, server.port, server.pgid, rate, args.step_seconds,
                        users_csv, server.work,
                    )  # fmt: skip
                    getattr(server, "check", lambda: None)()
                    print(json.dumps(asdict(step) | {"cpu_per_1000_tx": _r(step.cpu_per_1000_tx)}))
                    return step

                max_rate = min(args.max_rate, PIKE_SAFE_REQUESTS // wl.tx_per_call)
                results[(server.name, wl.name)] = find_best_rate(
                    run, args.start_rate, max_rate, args.budget, args.step_seconds + 1
                )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    rows = summary(results)
    load_after = os.getloadavg()
    print(f"\nload average before {load_before}, after {load_after}")
    print_table(rows)
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "started": started,
                    "cpus": os.cpu_count(),
                    "kamailio_children": args.kamailio_children,
                    "load_before": load_before,
                    "load_after": load_after,
                    "steps": [asdict(s) for steps in results.values() for s in steps],
                    "summary": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
