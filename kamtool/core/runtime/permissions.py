"""permissions module at run time: address and trusted tables (dump and reload)."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc, unset
from kamtool.errors import NotFound, RpcError


def address_rows(address_dump: Any, subnet_dump: Any = None) -> list[dict[str, Any]]:
    """``permissions.addressDump`` (hosts) and ``subnetDump`` (networks) as one list of rows
    ``{group, ip, mask, port, tag}``, sorted by group then address."""
    rows = []
    for entry in address_dump or []:
        item = entry.get("item", {})
        rows.append(
            {
                "group": entry.get("group"),
                "ip": item.get("ip"),
                "mask": item.get("mask", 128 if ":" in str(item.get("ip", "")) else 32),
                "port": item.get("port"),
                "tag": unset(item.get("tag")),
            }
        )
    for entry in subnet_dump or []:
        item = entry.get("item", {})
        rows.append(
            {
                "group": entry.get("group"),
                "ip": item.get("ip"),
                "mask": item.get("mask"),
                "port": item.get("port"),
                "tag": unset(item.get("tag")),
            }
        )
    rows.sort(key=lambda r: (r["group"] if r["group"] is not None else -1, str(r["ip"])))
    return rows


def address_dump(rpc: Rpc) -> list[dict[str, Any]]:
    """The address table as the server holds it in memory."""
    return address_rows(rpc.call("permissions.addressDump"), rpc.call("permissions.subnetDump"))


def address_reload(rpc: Rpc) -> str:
    return str(rpc.call("permissions.addressReload"))


# Kamailio's protocol numbers (PROTO_NONE = "any" ... PROTO_WSS)
_PROTOS = {0: "any", 1: "udp", 2: "tcp", 3: "tls", 4: "sctp", 5: "ws", 6: "wss"}


def trusted_rows(answer: Any) -> list[dict[str, Any]]:
    """``permissions.trustedDump`` (``[{"table": n, "item": {ip, proto, pattern, tag ...}}]``)
    as rows ``{src_ip, proto, pattern, ruri_pattern, tag, priority}``; the protocol number
    becomes its name and ``"NULL"`` None."""
    rows = []
    for entry in answer or []:
        item = entry.get("item", entry) if isinstance(entry, dict) else {}
        proto = item.get("proto")
        rows.append(
            {
                "src_ip": item.get("ip") or item.get("src_ip"),
                "proto": _PROTOS.get(proto, proto) if isinstance(proto, int) else proto,
                "pattern": unset(item.get("pattern")),
                "ruri_pattern": unset(item.get("ruri_pattern")),
                "tag": unset(item.get("tag")),
                "priority": item.get("priority"),
            }
        )
    return rows


_NO_TRUSTED = "the server has no trusted table loaded (permissions without db_url/trusted)"


def _no_trusted_table(exc: RpcError) -> bool:
    return "no trusted table" in str(exc.details.get("rpc_message", "")).lower()


def trusted_dump(rpc: Rpc) -> list[dict[str, Any]]:
    """The trusted table as the server holds it; :class:`NotFound` when it loaded none."""
    try:
        return trusted_rows(rpc.call("permissions.trustedDump"))
    except RpcError as exc:
        if _no_trusted_table(exc):
            raise NotFound(
                _NO_TRUSTED,
                hint="the permissions module reads it with db_url and load_backends 2 (or 3)",
                rpc_code=exc.rpc_code,
            ) from None
        raise


def trusted_reload(rpc: Rpc) -> str:
    """Reload the trusted table, if the server loaded one.

    Kamailio 5.6.3 crashes (SIGSEGV, and the whole server goes down) on
    ``permissions.trustedReload`` when permissions runs without a trusted table, so that
    is asked first with the harmless ``permissions.trustedDump`` ("No trusted table").
    """
    try:
        rpc.call("permissions.trustedDump")
    except RpcError as exc:
        if _no_trusted_table(exc):
            raise NotFound(
                _NO_TRUSTED,
                hint="nothing to reload; Kamailio would crash on permissions.trustedReload",
                rpc_code=exc.rpc_code,
            ) from None
        raise
    return str(rpc.call("permissions.trustedReload"))
