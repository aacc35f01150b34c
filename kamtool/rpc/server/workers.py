"""One JSON-RPC server for ``kamtool serve --workers N``: worker 0 listens, and the methods
whose answer depends on every worker's state ask the others
(:mod:`kamtool.proxy.workers.rpc_link`) and merge what they say:

* **sum**: statistics (``stats.*``, ``tm.stats``, ``sl.stats``, ``dlg.stats_active``,
  ``core.shmmem``): numbers added up, except the values every worker holds the same
  (registrations are copied to all of them; configured constants; the memory ceiling
  they share, of which free memory is what all of them together leave);
* **merge**: dumps (``dlg.list``, ``dlg.briefing``, ``dlg.profile_list``, ``pike.list``,
  ``core.workers``, the processes of ``core.ps|psx|psa`` and ``pkg.stats``): the lists
  put together, process rows numbered again;
* **all**: reloads and changes of state every worker keeps (``*.reload``, ``cfg.set*``,
  ``htable.set*``, ``dispatcher.set_state``, ``ul.flush`` ...): run everywhere, worker
  0's answer;
* **owner**: ``dlg.end_dlg``, ``ws.close|ping|pong``: tried here, then on the others
  until the worker holding the dialog or connection answers (dialog and WebSocket ids
  are unique across the workers);
* ``ws.dump``: every worker's connections in one list, ordered and cut as one worker's.

Every other method answers from worker 0 alone: registrations (the other ``ul.*``) are the
same in every worker (a change made here is copied to the others), what runs once
(dispatcher probing, upstream registrations) runs there, and ``dlg.profile_get_size``
counts the other workers' dialogs through the profile counts they share.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from dataclasses import replace
from typing import Any

from kamtool.rpc.methods import Registry, RpcFault
from kamtool.rpc.server.dispatch import render

log = logging.getLogger(__name__)

SUM = {
    "stats.get_statistics", "stats.fetch", "stats.fetchn", "stats.clear_statistics",
    "tm.stats", "sl.stats", "dlg.stats_active", "core.tcp_info", "core.shmmem",
}  # fmt: skip
MERGE = {"dlg.list", "dlg.list_ctx", "dlg.briefing", "dlg.profile_list", "pike.list",
         "core.workers", "core.ps", "core.psx", "core.psa", "pkg.stats"}  # fmt: skip
ALL = {
    "permissions.addressReload", "permissions.trustedReload", "domain.reload",
    "dispatcher.reload", "htable.reload", "dialplan.reload", "mtree.reload", "lcr.reload",
    "app_python.reload", "app_python3.reload", "cfg.set", "cfg.seti", "cfg.sets",
    "dispatcher.set_state", "dispatcher.set_duid_state", "htable.sets", "htable.seti", "ul.flush",
    "htable.setex", "htable.delete", "htable.flush", "pv.shvSet", "stats.reset_statistics",
    "siptrace.status", "siptrace.dest_add", "siptrace.dest_rm", "lcr.defunct_gw",
    "tls.reload",  # each worker holds its own TLS contexts
}  # fmt: skip
# owner: the method and the fault code its worker answers "not mine" with
OWNER = {"dlg.end_dlg": 404, "ws.close": 500, "ws.ping": 500, "ws.pong": 500}
WS_DUMP = "ws.dump"
# statistics every worker holds the same value of (copied registrations, settings, the
# memory ceiling all the workers share): worker 0's value is the answer, not the sum
_SAME = ("registrar:max_expires", "registrar:default_expire", "registrar:max_contacts",
         "registrar:default_expires_range", "registrar:expires_range",
         "shmem:total_size")  # fmt: skip
SAME_EVERYWHERE = ("usrloc", *_SAME, *(k.replace(":", ".") for k in _SAME))
# free memory is the shared ceiling less what all the workers use, not a sum of frees:
# free -> (ceiling, used), in stats.get_statistics' and stats.fetch's names
_FREE = {"shmem:free_size": ("shmem:total_size", "shmem:real_used_size"),
         "shmem.free_size": ("shmem.total_size", "shmem.real_used_size")}  # fmt: skip
_SHMMEM_FREE = {"free": ("total", "real_used")}  # core.shmmem's names
# the processes' lists, and each row's number, numbered again when put together
PROCESSES = {"core.ps", "core.psx", "core.psa", "pkg.stats"}
_ROW_NUMBER = ("IDX", "index", "entry", "rank")


class NotListening:
    """The JSON-RPC "server" of a worker other than 0: worker 0 asks it over the link."""

    async def close(self) -> None:
        return None


def join_workers(server: Any, registry: Registry) -> bool:
    """Serve ``registry`` to the other workers and, in worker 0, answer for them all;
    True when this worker is the one that listens (worker 0)."""
    worker = server.worker
    link = worker.link
    registry.add("core.workers", lambda: [worker.row()], "The workers: counters of each.")

    async def handle(method: str, params: list[Any]) -> bytes:
        try:
            result = await registry.call(method, params)
        except RpcFault as exc:
            return json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode()
        return await render({"result": result})

    link.handler = handle
    if worker.ctx.index != 0:
        return False
    for name, method in list(registry.methods.items()):
        policy = _policy(name)
        if policy is not None:
            registry.methods[name] = replace(method, fn=_fanned(link, name, method.fn, policy))
    return True


def _policy(name: str) -> str | None:
    for policy, names in (("sum", SUM), ("merge", MERGE), ("all", ALL), ("owner", OWNER)):
        if name in names:
            return policy
    return "ws" if name == WS_DUMP else None


def _params(args: tuple[Any, ...]) -> list[Any]:
    """The bound arguments as parameters again: the optional ones not given (None) are
    left out, as the caller did (a None would not pass the other worker's type check)."""
    out = list(args)
    while out and out[-1] is None:
        out.pop()
    return out


async def _local(fn: Any, args: tuple[Any, ...]) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _fanned(link: Any, name: str, fn: Any, policy: str) -> Any:
    """``fn`` (worker 0's method) made to answer for every worker (see module docstring)."""

    async def run(*args: Any) -> Any:
        if policy == "owner":
            return await _owner(link, name, fn, args)
        if policy == "ws":
            return await _ws_dump(link, fn, args)
        local = await _local(fn, args)
        answers = await link.call_others(name, _params(args))
        if policy == "all":
            for a in answers:
                if "error" in a:
                    log.warning("%s on worker %s: %s", name, a["worker"], a["error"])
            return local
        # the local answer as JSON values, as the others' came (a LazyList printed)
        mine = json.loads(await render(local))
        theirs = [a["result"] for a in answers if "result" in a]
        if policy == "merge":
            merged = _merge_lists(mine, theirs)
            return _renumbered(merged) if name in PROCESSES else merged
        total = _sum(mine, theirs)
        if name == "core.shmmem" and isinstance(total, dict):  # the shared ceiling, once
            total["total"] = mine.get("total", 0)
            _free_of(total, _SHMMEM_FREE)
        return total

    return run


async def _owner(link: Any, name: str, fn: Any, args: tuple[Any, ...]) -> Any:
    try:
        return await _local(fn, args)
    except RpcFault as fault:
        if fault.code != OWNER[name]:
            raise
        for index in link.ctx.others:
            try:
                answer = await link.call(index, name, _params(args))
            except Exception:
                continue
            if "result" in answer:
                return answer["result"]
        raise


_USED = re.compile(r"last used (\d+)s ago")


async def _ws_dump(link: Any, fn: Any, args: tuple[Any, ...]) -> Any:
    """``ws.dump``: the connections of every worker as one worker would list them (by id,
    or by time since last use), at most ``MAX_DUMP`` of them."""
    from kamtool.rpc.methods.ws import MAX_DUMP

    mine = await _local(fn, args)  # (a bad order fails here, as on a lone proxy)
    answers = await link.call_others(WS_DUMP, _params(args))
    lines = list(mine["connections"])
    truncated = mine["info"]["truncated"] == "yes"
    for a in answers:
        result = a.get("result")
        if isinstance(result, dict):
            lines += result.get("connections", [])
            truncated |= result.get("info", {}).get("truncated") == "yes"
    order = str(args[0] if args and args[0] else "id_hash").lower()
    lines.sort(key=lambda line: int(line.split(":", 1)[0]))
    if order != "id_hash":  # used_desc: longest unused first; used_asc: the reverse
        lines.sort(key=_unused_for, reverse=order == "used_desc")
    truncated |= len(lines) > MAX_DUMP
    lines = lines[:MAX_DUMP]
    info = {"wscounter": len(lines), "truncated": "yes" if truncated else "no"}
    return {"connections": lines, "info": info}


def _unused_for(line: str) -> int:
    found = _USED.search(line)
    return int(found.group(1)) if found else 0


def _merge_lists(mine: Any, theirs: list[Any]) -> Any:
    if not isinstance(mine, list):
        return mine
    out = list(mine)
    for other in theirs:
        if isinstance(other, list):
            out.extend(other)
    return out


def _renumbered(rows: Any) -> Any:
    """Process rows of several workers numbered as one server's (each worker counts from 0)."""
    if not rows or not all(isinstance(row, dict) for row in rows):
        return rows  # (core.ps: a flat list of pids and descriptions, nothing to number)
    keys = [k for k in _ROW_NUMBER if all(k in row for row in rows)]
    return [{**row, **dict.fromkeys(keys, n)} for n, row in enumerate(rows)]


def _same(key: str) -> bool:
    return key.startswith(SAME_EVERYWHERE)


def _add(a: Any, b: Any) -> Any:
    """``a + b`` for numbers and numeric strings (stats.fetch), else ``a``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        try:
            return str(int(a) + int(b))
        except ValueError:
            return a
    return a


def _sum(mine: Any, theirs: list[Any]) -> Any:
    if isinstance(mine, int | float) and not isinstance(mine, bool):
        return mine + sum(t for t in theirs if isinstance(t, int | float))
    if isinstance(mine, dict):
        out = dict(mine)
        for other in theirs:
            if not isinstance(other, dict):
                continue
            for key, value in other.items():
                if key not in out:
                    out[key] = value
                elif not _same(key) and key not in _FREE:
                    out[key] = _add(out[key], value)
        _free_of(out)
        return out
    if isinstance(mine, list) and all(isinstance(x, str) for x in mine):
        return _sum_lines(mine, theirs)
    return mine


def _sum_lines(mine: list[str], theirs: list[Any]) -> list[str]:
    """``stats.get_statistics``' lines (``group:name = value``) added up by name."""
    values: dict[str, Any] = {}
    for line in mine:
        key, sep, value = line.partition(" = ")
        values[key] = value if sep else None
    for other in theirs:
        for line in other if isinstance(other, list) else ():
            key, sep, value = str(line).partition(" = ")
            if key not in values:
                values[key] = value if sep else None
            elif sep and values[key] is not None and not _same(key) and key not in _FREE:
                values[key] = _add(values[key], value)
    _free_of(values)
    return [key if value is None else f"{key} = {value}" for key, value in values.items()]


def _free_of(values: dict[str, Any], names: dict[str, tuple[str, str]] = _FREE) -> None:
    """Free memory of the workers together: the ceiling less the sum of what they use."""
    for free, (total, used) in names.items():
        if free in values and total in values and used in values:
            try:
                left = max(int(values[total]) - int(values[used]), 0)
            except (TypeError, ValueError):
                continue
            values[free] = str(left) if isinstance(values[free], str) else left
