"""SIPp steps and what they cost: workloads, one fixed-rate run, CPU from /proc, response times.

Used by ``bench/sipp_compare.py`` (and ``bench/overload.py``); no servers are started here.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_FAILED = 0.005  # a step passes below 0.5% failed calls


@dataclass(frozen=True)
class Workload:
    """A SIPp scenario and how to count it.

    ``requests`` is what one call sends to the server (pike counts requests per source);
    ``auth`` False runs it against servers started without authentication; ``call`` needs the
    registered SIPp callee (``uas.xml``) and holds each call ``hold_ms`` (SIPp ``-d``).
    """

    name: str
    scenario: str
    tx_per_call: int
    uses_users: bool
    requests: int
    auth: bool = True
    call: bool = False


WORKLOADS = {
    "options": Workload("options", "options.xml", 1, False, 1),
    "register": Workload("register", "register_digest.xml", 2, True, 2),
    "register_noauth": Workload("register_noauth", "register_noauth.xml", 1, True, 1, auth=False),
    # INVITE and BYE transactions (the ACK for the 2xx is a message, not a transaction)
    "call": Workload("call", "call.xml", 2, False, 3, call=True),
    # plus the challenged INVITE (407, whose ACK is hop-by-hop)
    "call_digest": Workload("call_digest", "call_digest.xml", 3, True, 5, call=True),
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
    p50_ms: float | None = None  # SIPp response time 1 (see each scenario's rtd)
    p99_ms: float | None = None
    rtt_samples: int = 0
    tags: list[str] = field(default_factory=list)  # "search", "half" (extra fixed-rate step)

    @property
    def cpu_us_per_tx(self) -> float | None:
        tx = self.ok * WORKLOADS[self.workload].tx_per_call
        return 1e6 * self.cpu_s / tx if tx else None

    @property
    def cpu_us_per_call(self) -> float | None:
        return 1e6 * self.cpu_s / self.ok if self.ok else None


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


# ---------------------------------------------------------------- SIPp output

_COUNTER = re.compile(r"^\s*(Successful|Failed) call\s*\|\s*\d+\s*\|\s*(\d+)", re.M)


def parse_counts(text: str) -> dict[str, int]:
    """SIPp's final screen: {"Successful": n, "Failed": n} (cumulative column)."""
    return {k: int(v) for k, v in _COUNTER.findall(text)}


def parse_rtt_csv(text: str) -> list[float]:
    """Response times in ms from SIPp's ``-trace_rtt`` file (``date_ms;rtt_ms;rtd_no`` lines).

    Only response time 1 is kept (every scenario here measures one thing).
    """
    values = []
    for line in text.splitlines():
        parts = line.strip().split(";")
        if len(parts) < 3:
            continue
        try:
            rtt, rtd = float(parts[1]), int(parts[2])
        except ValueError:
            continue  # the header line
        if rtd == 1:
            values.append(rtt)
    return values


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


# the port the REGISTER scenarios put in the Contact of the load's users: one binding per
# user (SIPp -t un gives each call its own port: a binding per call piled up in the AoRs
# until their 200s no longer fitted a datagram)
LOAD_CONTACT_PORT = 5999


def write_users_csv(
    path: Path, users: list[tuple[str, str]], contact_port: int = LOAD_CONTACT_PORT
) -> Path:
    """A SIPp injection file: field0 the user, field1 its [authentication] keyword, field2
    the port of the Contact the REGISTER scenarios send (a callee: its UAS's port)."""
    lines = ["SEQUENTIAL"]
    lines += [f"{u};[authentication username={u} password={p}];{contact_port}" for u, p in users]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- running SIPp


@dataclass
class SippRun:
    ok: int
    wall_s: float
    rtts_ms: list[float]


def sipp_command(
    workload: Workload, port: int, rate: int, calls: int, users_csv: Path | None,
    callee: str | None = None, hold_ms: int = 0, local_port: int | None = None,
    transport: str = "u1",
) -> list[str]:  # fmt: skip
    """The SIPp command line of one fixed-rate run against 127.0.0.1:port; ``transport``
    ``un``: a socket (source port) per call, which the kernel spreads over the workers of
    ``kamtool serve --workers N`` (one port all goes to one worker)."""
    limit = max(rate * 3, 10)
    if workload.call:  # calls stay open for the hold: room for them all
        limit = max(limit, int(rate * (hold_ms / 1000 + 3)))
    cmd = [
        "sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIOS / workload.scenario),
        "-i", "127.0.0.1", "-p", str(local_port or free_port()), "-r", str(rate),
        "-m", str(calls), "-l", str(limit), "-nostdin", "-max_recv_loops", "10000",
        "-timeout", f"{calls / rate + hold_ms / 1000 + 8:.0f}s", "-timeout_error",
        "-trace_rtt", "-rtt_freq", "1",  # each call written (no dump at exit)
    ]  # fmt: skip
    if workload.call:
        if callee is None:
            raise ValueError(f"{workload.name} needs a registered callee")
        cmd += ["-key", "callee", callee, "-d", str(hold_ms)]
    if transport != "u1":
        cmd += ["-t", transport, "-max_socket", str(limit + 100)]
    if workload.uses_users:
        if users_csv is None:
            raise ValueError(f"{workload.name} needs an injection file of users")
        cmd += ["-inf", str(users_csv)]
    return cmd


def run_sipp(
    workload: Workload, port: int, rate: int, calls: int, users_csv: Path | None, cwd: Path,
    callee: str | None = None, hold_ms: int = 0, local_port: int | None = None,
    transport: str = "u1",
) -> SippRun:  # fmt: skip
    """Run ``calls`` calls at ``rate`` cps; successful calls, wall time, response times."""
    cmd = sipp_command(
        workload, port, rate, calls, users_csv, callee, hold_ms, local_port, transport
    )
    with tempfile.TemporaryDirectory(dir=cwd, prefix="sipp-") as tmp:
        t0 = time.monotonic()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=tmp,
            timeout=calls / rate + hold_ms / 1000 + 30,
        )  # fmt: skip
        wall = time.monotonic() - t0
        rtts: list[float] = []
        for path in Path(tmp).glob("*_rtt.csv"):
            rtts += parse_rtt_csv(path.read_text(errors="replace"))
    ok = parse_counts(proc.stdout + proc.stderr).get("Successful", 0)
    return SippRun(ok, wall, rtts)


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


def run_step(
    server: str, workload: Workload, port: int, pgid: int, rate: int, seconds: float,
    users_csv: Path | None, cwd: Path, callee: str | None = None, hold_ms: int = 0,
    transport: str = "u1",
) -> Step:  # fmt: skip
    """One rate step; failed = calls that did not complete (error, timeout or never sent)."""
    calls = max(int(rate * seconds), 1)
    wait_idle(pgid)
    before = cpu_seconds(pgid)
    run = run_sipp(
        workload, port, rate, calls, users_csv, cwd, callee, hold_ms, transport=transport
    )
    cpu = cpu_seconds(pgid) - before
    failed = calls - run.ok
    # On time: SIPp throttles itself (-l) instead of failing when replies lag, so a step
    # that ran much longer than calls/rate (plus the hold of the last call) means the
    # server did not keep up.
    on_time = run.wall_s <= seconds * 1.25 + 0.75 + (hold_ms / 1000 if workload.call else 0)
    passed = failed < MAX_FAILED * calls and on_time
    return Step(
        server, workload.name, rate, calls, run.ok, failed, round(run.wall_s, 2), round(cpu, 3),
        passed, _r(percentile(run.rtts_ms, 50)), _r(percentile(run.rtts_ms, 99)), len(run.rtts_ms),
    )  # fmt: skip


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


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
