"""``core.*``: version, uptime, info, process lists, echo (Kamailio's core RPCs)."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from kamtool import __version__
from kamtool.rpc.methods import Param, Registry

__all__ = ["register", "version_string"]


def version_string() -> str:
    """``core.version``: Kamailio prints ``kamailio 5.6.3 (x86_64/linux) ``; we print ours."""
    return f"kamtool {__version__} ({platform.machine()}/{sys.platform})"


def register(
    registry: Registry,
    *,
    started: float | None = None,
    processes: Callable[[], Sequence[str]] | None = None,
    sockets: Callable[[], Sequence[tuple[str, str, int]]] | None = None,
    modules: Sequence[str] = (),
    clock: Callable[[], float] = time.time,
) -> None:
    """Add ``core.*``.

    ``processes()`` describes the proxy's workers (all in this one process, so they
    share our pid), e.g. ``["udp receiver sock=127.0.0.1:5060", "timer"]``;
    ``sockets()`` lists ``(proto, host, port)`` listeners for ``core.sockets_list``.
    """
    start = clock() if started is None else started

    def describe() -> list[str]:
        return ["main process - attendant", *(processes() if processes else ())]

    def uptime() -> dict[str, Any]:
        now = clock()
        return {
            "now": time.ctime(now),
            "up_since": time.ctime(start),
            "uptime": int(now - start),
        }

    def info() -> dict[str, Any]:
        return {
            "version": f"kamtool {__version__}",
            "id": "unknown",
            "compiler": f"{platform.python_implementation()} {platform.python_version()}",
            "compiled": "",
            "flags": "",
        }

    def runinfo() -> dict[str, Any]:
        now = clock()
        up = int(now - start)
        days, rest = divmod(up, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        return {
            "name": "kamtool",
            "version": __version__,
            "sourceid": "unknown",
            "compiler": f"{platform.python_implementation()} {platform.python_version()}",
            "compiled": "",
            "time_now": time.ctime(now),
            "time_started": time.ctime(start),
            "uptime_secs": up,
            "utime_days": f"{days}d {hours}h {minutes}m {seconds}s",
        }

    def ps() -> list[Any]:
        pid = os.getpid()
        out: list[Any] = []
        for desc in describe():
            out += [pid, desc]
        return out

    def psx() -> list[dict[str, Any]]:
        pid = os.getpid()
        return [{"IDX": i, "PID": pid, "DSC": d} for i, d in enumerate(describe())]

    def psa() -> list[dict[str, Any]]:
        pid = os.getpid()
        return [
            {"index": i, "pid": pid, "status": 1, "rank": i, "description": d}
            for i, d in enumerate(describe())
        ]

    def echo(*values: Any) -> list[str]:
        # Kamailio scans each value with "%s": numbers come back as strings. It truncates
        # 1.5 to "1"; we keep "1.5".
        return [v if isinstance(v, str) else _scalar_text(v) for v in values]

    def sockets_list() -> list[dict[str, Any]]:
        return [
            {
                "socket": {
                    "proto": proto,
                    "address": host,
                    "ipaddress": host,
                    "port": str(port),
                    "mcast": "no",
                    "mhomed": "no",
                    "virtual": "no",
                }
            }
            for proto, host, port in (sockets() if sockets else ())
        ]

    registry.add("core.version", version_string, "Returns the version string of the server.")
    registry.add("core.uptime", uptime, "Returns uptime of SIP server.")
    registry.add("core.info", info, "Verbose info, including version number, compile flags.")
    registry.add("core.runinfo", runinfo, "Runtime info: version, uptime ...")
    registry.add("core.ps", ps, "Returns the description of running processes.")
    registry.add("core.psx", psx, "Returns the detailed description of running processes.")
    registry.add("core.psa", psa, "Returns the full attributes of running processes.")
    registry.add("core.echo", echo, "Returns back its parameters.", varargs=Param("value", "any"))
    registry.add(
        "jsonrpc.echo", lambda *v: list(v), "Returns back its parameters as given.",
        varargs=Param("value", "any"),
    )  # fmt: skip
    registry.add("core.modules", lambda: list(modules), "List loaded modules.")
    registry.add("core.sockets_list", sockets_list, "Returns the list of listening sockets.")


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
