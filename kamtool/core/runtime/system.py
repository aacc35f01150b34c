"""The server itself: ``core.version``, ``core.uptime``, ``core.info``, processes, log level."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import BadInput, RpcError


def version(rpc: Rpc) -> str:
    """``"kamailio 5.6.3 (x86_64/linux)"`` (Kamailio's trailing space removed)."""
    return str(rpc.call("core.version")).strip()


def uptime(rpc: Rpc) -> dict[str, Any]:
    """``{now, up_since, uptime}`` (ctime strings and seconds)."""
    return dict(rpc.call("core.uptime"))


def info(rpc: Rpc) -> dict[str, Any]:
    """``{version, id, compiler, compiled, flags}``."""
    return dict(rpc.call("core.info"))


def ps_rows(answer: Any) -> list[dict[str, Any]]:
    """``core.psx`` (``[{IDX, PID, DSC}]``) or ``core.ps`` (flat ``[pid, desc, ...]``) as rows."""
    rows = []
    if answer and isinstance(answer[0], dict):
        for p in answer:
            rows.append({"index": p.get("IDX"), "pid": p.get("PID"), "description": p.get("DSC")})
        return rows
    flat = list(answer or [])
    for i in range(0, len(flat) - 1, 2):
        rows.append({"index": i // 2, "pid": flat[i], "description": flat[i + 1]})
    return rows


def processes(rpc: Rpc) -> list[dict[str, Any]]:
    """The server's processes (``core.psx``, falling back to ``core.ps``)."""
    try:
        return ps_rows(rpc.call("core.psx"))
    except RpcError as exc:
        if exc.rpc_code not in (500, -32601):
            raise
        return ps_rows(rpc.call("core.ps"))


def debug(rpc: Rpc, level: int | None = None) -> dict[str, Any]:
    """The core log level (``cfg.get core debug``); with ``level``, set it first.

    Kamailio does not coerce: the level must go out as a JSON integer (a string would be
    read as 0), so it is checked here.
    """
    if level is None:
        return {"debug": rpc.call("cfg.get", "core", "debug")}
    if not isinstance(level, int) or not -5 <= level <= 5:
        raise BadInput("the debug level is an integer from -5 to 5 (L_ALERT .. L_DBG is -5 .. 3)")
    previous = rpc.call("cfg.get", "core", "debug")
    rpc.call("cfg.seti", "core", "debug", int(level))
    return {"debug": rpc.call("cfg.get", "core", "debug"), "previous": previous}
