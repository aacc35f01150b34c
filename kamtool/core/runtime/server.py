"""Views of the server itself (kamcli's ``srv``, ``shm``, ``pkg``, ``tcp``, ``tls``,
``pipelimit`` and ``shv``): Kamailio's answers turned into flat rows.

Answer shapes, as Kamailio 5.6 gives them:

* ``core.sockets_list``: ``[{"socket": {proto, address, ipaddress, port, mcast, mhomed,
  virtual}}]``; ``core.aliases_list``: ``{"myself_callbacks": "no", "aliases":
  [{"alias": {proto, address, port}}]}``;
* ``pkg.stats``: ``[{entry, pid, rank, used, free, real_used, total_size, total_frags,
  desc}]``, one per process; ``core.shmmem``: ``{total, free, used, real_used, max_used,
  fragments}``;
* ``core.tcp_list``: ``[{id, type, state, timeout, lifetime, ref_count, src_ip, src_port,
  dst_ip, dst_port}]``; ``tls.list`` the same with the TLS session's fields;
* ``pl.get_pipes`` and ``pl.stats``: one line of text per pipe (parsed below);
* ``pv.shvGet``: ``{"items": [{name, type, value}]}`` or one ``{name, type, value}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import BadInput, NotFound, RpcError


def _items(answer: Any, *keys: str) -> list[Any]:
    """The list inside ``answer``: itself, or under the first of ``keys`` it has."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, Mapping):
        for key in keys:
            if key in answer:
                inner = answer[key]
                return inner if isinstance(inner, list) else [inner]
        return [answer] if answer else []
    return []


def _unwrap(entry: Any, key: str) -> Any:
    return entry.get(key, entry) if isinstance(entry, Mapping) else entry


# --------------------------------------------------------------------------- srv


def sockets(rpc: Rpc) -> list[dict[str, Any]]:
    """Listening sockets: proto, address, port, and Kamailio's flags."""
    rows = []
    for entry in _items(rpc.call("core.sockets_list")):
        s = _unwrap(entry, "socket")
        rows.append({
            "proto": s.get("proto"), "address": s.get("address"),
            "ipaddress": s.get("ipaddress"), "port": _int(s.get("port")),
            "advertise": s.get("advaddress") or s.get("advertise"),
            "mcast": s.get("mcast"), "mhomed": s.get("mhomed"), "virtual": s.get("virtual"),
        })  # fmt: skip
    return rows


def aliases(rpc: Rpc) -> list[dict[str, Any]]:
    """The names the server takes as its own (``alias=``, auto aliases)."""
    rows = []
    for entry in _items(rpc.call("core.aliases_list"), "aliases"):
        a = _unwrap(entry, "alias")
        if isinstance(a, Mapping):
            rows.append({"proto": a.get("proto"), "address": a.get("address"),
                         "port": _int(a.get("port"))})  # fmt: skip
    return rows


def modules(rpc: Rpc) -> list[str]:
    """Loaded modules, in Kamailio's order (last loaded first)."""
    return [str(m) for m in rpc.call("core.modules") or []]


def methods(rpc: Rpc) -> list[str]:
    """The RPC methods the server has (system.listMethods)."""
    return [str(m) for m in rpc.call("system.listMethods") or []]


def method_help(rpc: Rpc, method: str) -> str:
    """The server's one-line help of ``method``; NotFound when it has no such method."""
    try:
        return str(rpc.call("system.methodHelp", method))
    except RpcError as exc:
        if "not found" in exc.message.lower():
            raise NotFound(f"the server has no RPC method {method!r}",
                           hint="kamtool srv rpclist") from exc  # fmt: skip
        raise


# --------------------------------------------------------------------------- memory


def shm(rpc: Rpc) -> dict[str, Any]:
    """Shared memory (one pool for all processes) with its use in percent."""
    doc = dict(rpc.call("core.shmmem"))
    total = doc.get("total") or 0
    if total:
        doc["used_percent"] = round(100.0 * (doc.get("real_used") or 0) / total, 1)
    return doc


def pkg(rpc: Rpc, *, pid: int | None = None) -> list[dict[str, Any]]:
    """Private memory of each process (pkg.stats), with use in percent."""
    rows = []
    for p in _items(rpc.call("pkg.stats")):
        total = p.get("total_size") or 0
        row = {
            "entry": p.get("entry"), "pid": p.get("pid"), "rank": p.get("rank"),
            "description": p.get("desc", ""), "used": p.get("used"),
            "real_used": p.get("real_used"), "free": p.get("free"), "total": total,
            "fragments": p.get("total_frags"),
            "used_percent": round(100.0 * (p.get("real_used") or 0) / total, 1) if total else None,
        }  # fmt: skip
        rows.append(row)
    if pid is not None:
        rows = [r for r in rows if r["pid"] == pid]
        if not rows:
            raise NotFound(f"no process with pid {pid}", hint="kamtool ps")
    return rows


# --------------------------------------------------------------------------- tcp / tls


def tcp_connections(rpc: Rpc) -> list[dict[str, Any]]:
    """Open TCP/TLS/WS connections (core.tcp_list)."""
    return [dict(c) for c in _items(rpc.call("core.tcp_list"))]


def tls_connections(rpc: Rpc) -> list[dict[str, Any]]:
    """Open TLS connections with their cipher and peer (tls.list)."""
    return [dict(c) for c in _items(rpc.call("tls.list"), "connections") if isinstance(c, Mapping)]


# --------------------------------------------------------------------------- pipelimit

PIPE_ALGORITHMS = ("TAILDROP", "RED", "NETWORK", "FEEDBACK")


def pipes(rpc: Rpc) -> list[dict[str, Any]]:
    """Every pipe: name, algorithm, limit and the current counter (pl.get_pipes)."""
    return [_pipe_row(p) for p in _items(rpc.call("pl.get_pipes"), "pipes")]


def pipe_stats(rpc: Rpc) -> list[dict[str, Any]]:
    """Every pipe's load and counter (pl.stats)."""
    return [_pipe_row(p) for p in _items(rpc.call("pl.stats"), "pipes")]


def _pipe_row(p: Any) -> dict[str, Any]:
    """One pipe as a row. Kamailio 5.6 prints each pipe as a line of text, ``"PIPE:
    id=calls algorithm=TAILDROP limit=25 counter=0"``; a structure is taken as it is."""
    if isinstance(p, str):
        fields = dict(tok.split("=", 1) for tok in p.removeprefix("PIPE:").split() if "=" in tok)
        p = {k: _number(v) for k, v in fields.items()}
    p = _unwrap(p, "pipe")
    row = {"name": p.get("name", p.get("id"))}
    row.update({k: v for k, v in p.items() if k not in ("name", "id")})
    return row


def set_pipe(rpc: Rpc, name: str, algorithm: str, limit: int) -> None:
    """Change an existing pipe's algorithm and limit (pl.set_pipe)."""
    alg = algorithm.upper()
    if alg not in PIPE_ALGORITHMS:
        raise BadInput(f"algorithm {algorithm!r}: one of {', '.join(PIPE_ALGORITHMS)}")
    if limit < 0:
        raise BadInput("the limit is a number of requests per interval, 0 or more")
    try:
        rpc.call("pl.set_pipe", name, alg, int(limit))
    except RpcError as exc:
        if "not found" in exc.message.lower() or "unknown" in exc.message.lower():
            raise NotFound(f"no pipe {name!r}", hint="kamtool pipelimit list") from exc
        raise


# --------------------------------------------------------------------------- shv


def shv_get(rpc: Rpc, name: str | None = None) -> list[dict[str, Any]]:
    """Shared variables ($shv), all or one (pv.shvGet)."""
    try:
        answer = rpc.call("pv.shvGet", name) if name else rpc.call("pv.shvGet")
    except RpcError as exc:
        if exc.rpc_code == 404 or "not found" in exc.message.lower():
            raise NotFound(f"no shared variable {name!r}", hint="kamtool shv get") from exc
        raise
    return [dict(v) for v in _shv_items(answer) if isinstance(v, Mapping)]


def _shv_items(answer: Any) -> list[Any]:
    """The variables of a ``pv.shvGet`` answer: Kamailio's ``{"items": {"shv": {...},
    "shv": {...}}}`` (one member per variable, all named ``shv``; ``{}`` for none), one
    bare ``{name, type, value}``, or a list of those (kamtool's proxy). The JSON-RPC
    client reads a repeated member as a list of its values."""
    items = answer.get("items", answer) if isinstance(answer, Mapping) else answer
    if isinstance(items, list):
        return items
    if isinstance(items, Mapping):
        if "name" in items:
            return [items]
        return [
            v for value in items.values() for v in (value if isinstance(value, list) else [value])
        ]
    return []


def shv_set(rpc: Rpc, name: str, value: str, *, as_int: bool | None = None) -> dict[str, Any]:
    """Set $shv(name) (pv.shvSet): an integer when ``as_int`` (None: when it reads as one)."""
    if as_int is None:
        as_int = _is_int(value)
    if as_int and not _is_int(value):
        raise BadInput(f"{value!r} is not an integer")
    params: Iterable[Any] = (name, "int", int(value)) if as_int else (name, "str", value)
    try:
        rpc.call("pv.shvSet", *params)
    except RpcError as exc:
        if exc.rpc_code == 404 or "not found" in exc.message.lower():
            raise NotFound(
                f"no shared variable {name!r}",
                hint='Kamailio sets only declared ones: modparam("pv", "shvset", ...)',
            ) from exc
        raise
    return {"name": name, "type": "int" if as_int else "string",  # as pv.shvGet says
            "value": int(value) if as_int else value}  # fmt: skip


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
