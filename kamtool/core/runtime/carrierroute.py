"""carrierroute module at run time: ``cr.reload_routes`` and ``cr.dump_routes``."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc


def reload(rpc: Rpc) -> None:
    rpc.call("cr.reload_routes")


def route_rows(answer: Any) -> list[dict[str, Any]]:
    """``{"routes": [{carrier, id, domains: [{domain, id, data: [...]}]}]}`` as one row per
    route target. Kamailio names both the scan prefix and the rewrite prefix "prefix" in
    one struct; a JSON reader keeps the second, so the scan prefix is not in the answer."""
    rows = []
    routes = answer.get("routes", []) if isinstance(answer, dict) else []
    for carrier in routes or []:
        for domain in carrier.get("domains", []) or []:
            for item in domain.get("data", []) or []:
                rows.append(
                    {
                        "carrier": carrier.get("carrier"), "carrier_id": carrier.get("id"),
                        "domain": domain.get("domain"), "domain_id": domain.get("id"),
                        "host": item.get("host"), "prob": item.get("prob"),
                        "status": item.get("status"), "strip": item.get("strip"),
                        "rewrite_prefix": item.get("prefix"), "suffix": item.get("suffix"),
                        "comment": item.get("comment"),
                    }
                )  # fmt: skip
    return rows


def dump(rpc: Rpc) -> list[dict[str, Any]]:
    return route_rows(rpc.call("cr.dump_routes"))
