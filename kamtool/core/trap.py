"""Backtraces of every Kamailio process with gdb (``kamtool trap`` / ``pstrap``), written
to one file as ``kamctl trap`` and kamcli do, and a summary of where the processes wait.

Each process is attached by its own ``gdb -p PID -batch`` (``bt full``, or ``bt`` for the
short form), a few at a time: a process is stopped only while its gdb reads the stack.
gdb's debuginfod client is switched off: a trap never reaches out to the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kamtool.errors import BadInput, NotFound

# "#1  0x000055... in udp_rcv_loop ()" or "#0  __GI_epoll_wait (epfd=7, ...) at ..."
_FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-fA-F]+ in )?(\S+) \(", re.M)
_LIBC_PREFIXES = ("__GI___", "__GI_", "__libc_", "___", "__")
PS_FIELDS = "pid,ppid,stat,rss,vsz,pcpu,etime,wchan:32,args"


@dataclass
class Process:
    """One process to trap: pid and what the server says it does."""

    pid: int
    description: str = ""
    ps_line: str | None = None  # the system's ps line (pstrap)


@dataclass
class Backtrace:
    """gdb's output for one process and what it says about where the process waits."""

    process: Process
    text: str
    frames: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def waits_in(self) -> str | None:
        """The innermost function (the system call wrapper a waiting process sits in)."""
        return _plain(self.frames[0]) if self.frames else None

    @property
    def loop(self) -> str | None:
        """The first named Kamailio function above it (udp_rcv_loop, timer_main ...)."""
        for name in self.frames[1:]:
            if name != "??" and not name.startswith("_"):
                return name
        return None


def _plain(name: str) -> str:
    for prefix in _LIBC_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def parse_frames(text: str) -> list[str]:
    """Function names of the first thread's frames, innermost first."""
    names: list[str] = []
    for match in _FRAME.finditer(text):
        if int(match.group(1)) == 0 and names:
            break  # the next thread's stack (thread apply all)
        names.append(match.group(2))
    return names


def find_gdb(gdb: str | None = None) -> str:
    """The gdb program, or NotFound saying how to get it."""
    path = shutil.which(gdb or "gdb")
    if path is None:
        raise NotFound(f"{gdb or 'gdb'} is not installed", hint="apt-get install gdb")
    return path


def pidof(name: str = "kamailio") -> list[Process]:
    """Processes named ``name`` (the ``pidof`` way, from /proc), lowest pid first."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue  # gone, or not ours to read
        if comm == name[:15]:  # the kernel keeps 15 characters of a process name
            found.append(Process(int(entry.name), comm))
    if not found:
        raise NotFound(f"no process named {name!r} is running")
    return sorted(found, key=lambda p: p.pid)


def from_psx(rows: Iterable[Mapping[str, Any]]) -> list[Process]:
    """Processes from ``core.psx`` rows (``kamtool.core.runtime.system.processes``)."""
    procs = [Process(int(r["pid"]), str(r.get("description") or "")) for r in rows]
    if not procs:
        raise NotFound("the server listed no process")
    # kamtool's proxy gives every worker the same pid: trap each process once
    seen: dict[int, Process] = {}
    for p in procs:
        seen.setdefault(p.pid, p)
    return list(seen.values())


def add_ps_lines(procs: Sequence[Process]) -> None:
    """Fill in each process's line of ``ps`` (state, memory, CPU, wait channel)."""
    if not procs or shutil.which("ps") is None:
        return
    res = subprocess.run(
        ["ps", "-o", PS_FIELDS, "-p", ",".join(str(p.pid) for p in procs)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    lines = res.stdout.splitlines()
    by_pid = {}
    for line in lines[1:]:
        head = line.split(None, 1)
        if head and head[0].isdigit():
            by_pid[int(head[0])] = line
    header = lines[0] if lines else ""
    for p in procs:
        if p.pid in by_pid:
            p.ps_line = f"{header}\n{by_pid[p.pid]}"


def backtrace(proc: Process, *, gdb: str, full: bool = True, timeout: float = 60) -> Backtrace:
    """Attach gdb to ``proc`` once and read its stack."""
    cmd = [gdb, "-p", str(proc.pid), "-batch", "-nx", "-iex", "set debuginfod enabled off",
           "-ex", "bt full" if full else "bt"]  # fmt: skip
    env = {**os.environ, "DEBUGINFOD_URLS": ""}
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                             stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return Backtrace(proc, "", error=f"gdb did not finish in {timeout:g} s")
    text = res.stdout + res.stderr
    frames = parse_frames(res.stdout)
    error = None
    if not frames:
        why = re.search(r"ptrace: (.*)|Could not attach to process.*", text)
        error = why.group(0) if why else f"gdb exited {res.returncode} with no stack"
    return Backtrace(proc, text, frames, error)


def collect(
    procs: Sequence[Process], *, gdb: str, full: bool = True, jobs: int = 4,
    timeout: float = 60,
) -> list[Backtrace]:  # fmt: skip
    """Backtraces of ``procs``, in their order."""
    if jobs < 1:
        raise BadInput("--jobs must be at least 1")
    with ThreadPoolExecutor(max_workers=min(jobs, max(len(procs), 1))) as pool:
        return list(pool.map(lambda p: backtrace(p, gdb=gdb, full=full, timeout=timeout), procs))


def summary(traces: Sequence[Backtrace]) -> list[dict[str, Any]]:
    """Processes grouped by where they wait: ``{waits_in, loop, processes, pids,
    descriptions}``, the biggest group first; failed traces as ``waits_in`` None."""
    groups: dict[tuple[str | None, str | None], list[Backtrace]] = {}
    for t in traces:
        groups.setdefault((t.waits_in, t.loop), []).append(t)
    rows = [
        {
            "waits_in": key[0], "loop": key[1], "processes": len(members),
            "pids": [m.process.pid for m in members],
            "descriptions": sorted({m.process.description for m in members} - {""}),
        }
        for key, members in groups.items()
    ]  # fmt: skip
    rows.sort(key=lambda r: (-r["processes"], str(r["waits_in"])))
    return rows


def default_file(directory: Path | None = None, now: datetime | None = None) -> Path:
    """kamcli's name: ``/tmp/gdb_kamailio_YYYYMMDD_HHMMSS.txt``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    return (directory or Path("/tmp")) / f"gdb_kamailio_{stamp}.txt"


def write_file(
    path: Path, traces: Sequence[Backtrace], details: Mapping[str, Any] | None = None
) -> None:
    """The trap file: optional run-time details, then per process a ``---start PID ---``
    block with its description, ps line and gdb's output, as kamctl writes them."""
    rule = "-" * 60
    with path.open("w", encoding="utf-8") as f:
        for name, value in (details or {}).items():
            f.write(f"---{name} {rule}\n{json.dumps(value, indent=2, default=str)}\n\n")
        for t in traces:
            p = t.process
            f.write(f"---start {p.pid} {rule}\n")
            if p.description:
                f.write(f"# {p.description}\n")
            if p.ps_line:
                f.write(p.ps_line + "\n")
            if t.error:
                f.write(f"# no backtrace: {t.error}\n")
            f.write(t.text)
            f.write(f"\n---end {p.pid} {rule}\n\n")
