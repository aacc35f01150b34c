"""``kamtool trap`` and ``pstrap``: gdb backtraces of every server process in one file
(kamctl trap, kamcli trap/pstrap) and a summary of where the processes wait."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kamtool.cli.context import out
from kamtool.cli.output import Column

FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-o", help="The trap file (default /tmp/gdb_kamailio_DATE_TIME.txt).",
                 show_default=False),
]  # fmt: skip
NoRpc = Annotated[
    bool, typer.Option("--no-rpc-ps", "-P", help="Find the processes by name, not core.psx.")
]
Name = Annotated[str, typer.Option("--pidof", help="Process name for -P.")]
AllOpt = Annotated[
    bool, typer.Option("--all", "-a", help="Add run-time details (runinfo, shm, pkg) to the file.")
]
Jobs = Annotated[int, typer.Option("--jobs", "-j", help="Processes traced at once.", min=1)]
Gdb = Annotated[str, typer.Option("--gdb", help="The gdb program.")]

SUMMARY = [
    Column("processes", "PROCS", "right"), Column("waits_in", "WAITS IN"), Column("loop", "IN"),
    Column("descriptions", "WHAT"), Column("pids", "PIDS"),
]  # fmt: skip


def _processes(no_rpc: bool, name: str):
    from kamtool.core import trap
    from kamtool.errors import RpcError, RpcUnavailable

    if no_rpc:
        return trap.pidof(name)
    from kamtool.cli.runtime import client
    from kamtool.core.runtime import system

    try:
        with client() as rpc:
            return trap.from_psx(system.processes(rpc))
    except (RpcUnavailable, RpcError) as exc:
        out().warn(f"core.psx failed ({exc.message}): tracing every process named {name!r}")
        return trap.pidof(name)


def _details() -> dict[str, Any]:
    """Run-time details for the head of the file (each left out when it fails)."""
    from kamtool.cli.runtime import client
    from kamtool.errors import KamtoolError

    details: dict[str, Any] = {}
    try:
        with client() as rpc:
            for method in ("core.runinfo", "core.psx", "core.shmmem", "pkg.stats"):
                try:
                    details[method] = rpc.call(method)
                except KamtoolError as exc:
                    details[method] = {"error": exc.message}
    except KamtoolError as exc:
        details["rpc"] = {"error": exc.message}
    return details


def _run(file: Path | None, no_rpc: bool, name: str, all_: bool, jobs: int, gdb: str,
         *, ps: bool, full: bool) -> None:  # fmt: skip
    from kamtool.core import trap

    gdb_path = trap.find_gdb(gdb)
    procs = _processes(no_rpc, name)
    if ps:
        trap.add_ps_lines(procs)
    details = _details() if all_ and not no_rpc else None
    traces = trap.collect(procs, gdb=gdb_path, full=full, jobs=jobs)
    path = file or trap.default_file()
    trap.write_file(path, traces, details)
    rows = trap.summary(traces)
    failed = [t for t in traces if t.error]
    if out().json_mode:
        failures = [{"pid": t.process.pid, "error": t.error} for t in failed]
        out().json({"file": str(path), "processes": len(traces), "summary": rows,
                    "failed": failures})  # fmt: skip
    else:
        out().table(rows, SUMMARY)
        for t in failed:
            out().warn(f"pid {t.process.pid}: {t.error}")
        out().info(f"trap file: {path} ({len(traces)} processes)")
    if failed and len(failed) == len(traces):
        from kamtool.errors import KamtoolError

        raise KamtoolError("gdb could not read any process's stack",
                           hint="run as root or as the server's user (ptrace)")  # fmt: skip


def trap(file: FileOpt = None, no_rpc: NoRpc = False, name: Name = "kamailio",
         all_: AllOpt = False, jobs: Jobs = 4, gdb: Gdb = "gdb") -> None:  # fmt: skip
    """Full gdb backtraces of every server process into a file, and where they wait."""
    _run(file, no_rpc, name, all_, jobs, gdb, ps=False, full=True)


def pstrap(file: FileOpt = None, no_rpc: NoRpc = False, name: Name = "kamailio",
           all_: AllOpt = False, jobs: Jobs = 4, gdb: Gdb = "gdb") -> None:  # fmt: skip
    """As trap, with each process's ps line (state, memory, CPU, wait channel)."""
    _run(file, no_rpc, name, all_, jobs, gdb, ps=True, full=True)


def register(root: typer.Typer) -> None:
    """Add ``trap`` and ``pstrap`` to the root app."""
    root.command("trap")(trap)
    root.command("pstrap")(pstrap)
