"""carrierroute module at run time: ``cr.reload_routes`` and ``cr.dump_routes``."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc


def reload(rpc: Rpc) -> None:
    rpc.call("cr.reload_routes")


def route_rows(answer: Any) -> list[dict[str, Any]]:
    """``{"routes": [{carrier, id, domains: [{domain, id, data: [...]}]}]}`` as one row per
    route target. Kamailio names both the scan prefix and the rewrite prefix "prefix" in
    one struct (its fault); the RPC decoder keeps both values of a repeated name, in
    order, so the first is the scan prefix and the last the rewrite prefix."""
    rows = []
    routes = answer.get("routes", []) if isinstance(answer, dict) else []
    for carrier in routes or []:
        for domain in carrier.get("domains", []) or []:
            for item in domain.get("data", []) or []:
                scan, rewrite = _prefixes(item.get("prefix"))
                rows.append(
                    {
                        "carrier": carrier.get("carrier"), "carrier_id": carrier.get("id"),
                        "domain": domain.get("domain"), "domain_id": domain.get("id"),
                        "host": item.get("host"), "prob": item.get("prob"),
                        "status": item.get("status"), "strip": item.get("strip"),
                        "scan_prefix": scan, "rewrite_prefix": rewrite,
                        "suffix": item.get("suffix"), "comment": item.get("comment"),
                    }
                )  # fmt: skip
    return rows


def _prefixes(value: Any) -> tuple[Any, Any]:
    """(scan prefix, rewrite prefix) from the answer's "prefix" member(s)."""
    if isinstance(value, list):
        return (value[0], value[-1]) if value else (None, None)
    return None, value  # one value: an older reader kept only the last


def dump(rpc: Rpc) -> list[dict[str, Any]]:
    return route_rows(rpc.call("cr.dump_routes"))
