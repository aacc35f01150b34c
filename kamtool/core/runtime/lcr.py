"""lcr module at run time: ``lcr.reload``, ``dump_gws``, ``dump_rules``, ``defunct_gw``,
``load_gws``."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import NotFound, RpcError


def _records(answer: Any) -> list[dict[str, Any]]:
    """Kamailio answers one struct per lcr_id (a list), or just one (a dict)."""
    if isinstance(answer, dict):
        return [answer]
    return [a for a in answer or [] if isinstance(a, dict)]


def reload(rpc: Rpc) -> None:
    rpc.call("lcr.reload")


def gw_rows(answer: Any) -> list[dict[str, Any]]:
    return [gw for rec in _records(answer) for gw in rec.get("gw", []) or []]


def dump_gws(rpc: Rpc) -> list[dict[str, Any]]:
    return gw_rows(rpc.call("lcr.dump_gws"))


def rule_rows(answer: Any) -> list[dict[str, Any]]:
    """One row per rule with its targets as ``gw_index:priority:weight`` items."""
    rows = []
    for rec in _records(answer):
        for rule in rec.get("rule", []) or []:
            targets = [
                f"{t.get('gw_index')}:{t.get('priority')}:{t.get('weight')}"
                for t in rule.get("gw", []) or []
            ]
            rows.append({**{k: v for k, v in rule.items() if k != "gw"}, "targets": targets})
    return sorted(rows, key=lambda r: (r.get("lcr_id") or 0, r.get("rule_id") or 0))


def dump_rules(rpc: Rpc, lcr_id: int | None = None) -> list[dict[str, Any]]:
    try:
        answer = rpc.call("lcr.dump_rules", *([lcr_id] if lcr_id else []))
    except RpcError as exc:
        if exc.rpc_code == 404:  # "Empty reply": no rules
            return []
        raise
    return rule_rows(answer)


def defunct(rpc: Rpc, lcr_id: int, gw_id: int, until: int) -> None:
    """Take a gateway out of service until the Unix time ``until``."""
    try:
        rpc.call("lcr.defunct_gw", lcr_id, gw_id, until)
    except RpcError as exc:
        if exc.rpc_code == 400:
            raise NotFound(f"no gateway {gw_id} in lcr {lcr_id}", rpc_code=400) from None
        raise


def load_gws(
    rpc: Rpc, lcr_id: int, uri_user: str, from_uri: str = "", request_uri: str = ""
) -> list[dict[str, Any]]:
    """The gateways the server selects, best first (``lcr.load_gws``)."""
    params: list[Any] = [lcr_id, uri_user]
    if from_uri or request_uri:
        params.append(from_uri)
    if request_uri:
        params.append(request_uri)
    answer = rpc.call("lcr.load_gws", *params)
    gws = [g for g in answer or [] if isinstance(g, dict)] if isinstance(answer, list) else []
    return [{**g, "uri": gw_uri(g), **_hop(g, uri_user)} for g in gws]


def _hop(gw: dict[str, Any], uri_user: str) -> dict[str, Any]:
    """The URIs next_gw() would set for this dumped gateway."""
    from kamtool.core.lcr_engine import LcrError, next_hop

    ip = gw.get("ip_addr") or ""
    try:
        ruri, dst = next_hop(
            gw.get("scheme") or "sip:", "" if ip == "0.0.0.0" else ip, gw.get("hostname") or "",
            str(gw.get("port") or ""), gw.get("params") or "", gw.get("transport") or "",
            int(gw.get("strip") or 0), gw.get("prefix") or "", uri_user,
        )  # fmt: skip
    except LcrError:
        ruri, dst = None, None
    return {"ruri": ruri, "dst_uri": dst}


def gw_uri(gw: dict[str, Any]) -> str:
    """The URI lcr builds for a dumped gateway: the host name if it has one, else its IP."""
    host = gw.get("hostname") or gw.get("ip_addr") or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{gw['port']}" if gw.get("port") else ""
    tail = f"{gw.get('params') or ''}{gw.get('transport') or ''}"
    return f"{gw.get('scheme') or 'sip:'}{host}{port}{tail}"
