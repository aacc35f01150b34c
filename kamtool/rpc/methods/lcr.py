"""``lcr.*`` as Kamailio 5.6's lcr module answers them, over the proxy's copy of the lcr
tables (:class:`kamtool.proxy.rule_tables.RuleTables`): ``lcr.reload``, ``lcr.dump_gws``,
``lcr.dump_rules``, ``lcr.defunct_gw`` and ``lcr.load_gws``.

Kamailio answers one struct per lcr_id that has something (a bare struct when only one
has), with its own fault messages, kept here as they are (its "excution" too).
"""

from __future__ import annotations

import time
from typing import Any

from kamtool.core.lcr_engine import SCHEMES, TRANSPORTS, LcrError
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["gateway_struct", "register"]


def gateway_struct(gw: Any, index: int) -> dict[str, Any]:
    """One gateway as ``lcr.dump_gws`` and ``lcr.load_gws`` print it."""
    return {
        "lcr_id": gw.lcr_id, "gw_index": index, "gw_id": gw.id, "gw_name": gw.gw_name or "",
        "scheme": SCHEMES.get(gw.uri_scheme or 1, "sip") + ":",
        "ip_addr": gw.ip_addr or "0.0.0.0", "hostname": gw.hostname or "",
        "port": gw.port or 0, "params": gw.params or "",
        "transport": f";transport={TRANSPORTS[gw.transport]}" if gw.transport else "",
        "strip": gw.strip or 0, "prefix": gw.prefix or "", "tag": gw.tag or "",
        "flags": gw.flags or 0, "state": 0, "defunct_until": str(int(gw.defunct or 0)),
    }  # fmt: skip


def _answer(records: list[dict[str, Any]]) -> Any:
    return records[0] if len(records) == 1 else records if records else {}


def register(registry: Registry, tables: Any, lcr_count: int | None = None) -> None:
    """The lcr methods of ``tables``; with ``lcr_count`` (Kamailio's modparam) only lcr_ids
    1 to it exist, as in Kamailio (None: every lcr_id in the tables)."""
    from kamtool.proxy.rule_tables import TableLoadError

    def served(lcr_id: int) -> bool:
        return lcr_id >= 1 and (lcr_count is None or lcr_id <= lcr_count)

    def lcr_ids() -> list[int]:
        found = {g.lcr_id for g in tables.lcr.gateways.values()} | set(tables.lcr.rules)
        return sorted(i for i in found if served(i))

    def index_of(lcr_id: int) -> dict[int, int]:
        return {g.id: i for i, g in enumerate(tables.lcr_gateways(lcr_id), 1)}

    def reload() -> dict[str, Any]:
        try:
            tables.reload_lcr()
        except TableLoadError as exc:
            raise RpcFault(500, "LCR Module Reload Failed") from exc
        return {}

    def dump_gws() -> Any:
        records = []
        for lcr_id in lcr_ids():
            gws = tables.lcr_gateways(lcr_id)
            if gws:
                records.append({"gw": [gateway_struct(g, i) for i, g in enumerate(gws, 1)]})
        return _answer(records)

    def dump_rules(lcr_id: int = 0, prefix: str | None = None) -> Any:
        records = []
        for lid in lcr_ids():
            if lcr_id and lid != lcr_id:
                continue
            index = index_of(lid)
            rules = [
                r for r in tables.lcr.rules.get(lid, [])
                if not prefix or prefix.startswith(r.prefix)
            ]  # fmt: skip
            if not rules:
                continue
            # Kamailio lists them in its hash table's order; here by prefix, then id
            items = []
            for r in sorted(rules, key=lambda r: (r.prefix, r.id)):
                item: dict[str, Any] = {
                    "lcr_id": lid, "rule_id": r.id, "prefix": r.prefix,
                    "from_uri": r.from_uri or "", "request_uri": r.request_uri or "",
                    "stopper": r.stopper,
                }  # fmt: skip
                targets = sorted(r.targets, key=lambda t: t[1])  # by priority, as loaded
                if targets:
                    item["gw"] = [
                        {"gw_index": index.get(gw_id, 0), "priority": prio, "weight": weight}
                        for gw_id, prio, weight in targets
                    ]
                items.append(item)
            record: dict[str, Any] = {"rule": items}
            if not prefix:
                record["prefix_len"] = sorted({len(r.prefix) for r in rules}, reverse=True)
            records.append(record)
        if not records:
            raise RpcFault(404, "Empty reply")
        return _answer(records)

    def defunct_gw(lcr_id: int, gw_id: int, period: int) -> dict[str, Any]:
        # Kamailio's help says "until the Unix time" but it adds the number to now: a
        # period in seconds, as kamtool lcr defunct sends it (and no 32-bit overflow here)
        gw = tables.lcr.gateways.get(gw_id)
        if gw is None or gw.lcr_id != lcr_id or not served(lcr_id):
            raise RpcFault(400, "parameter value error (see syslog)")
        gw.defunct = int(time.time()) + period
        return {}

    def load_gws(
        lcr_id: int, uri_user: str, caller_uri: str = "", request_uri: str = ""
    ) -> list[dict[str, Any]]:
        if not served(lcr_id):
            raise RpcFault(400, "load_gws excution error (see syslog)")
        try:
            chosen = tables.lcr.select(
                lcr_id, str(uri_user), caller_uri, request_uri, now=time.time()
            )
        except LcrError as exc:
            raise RpcFault(400, "load_gws excution error (see syslog)") from exc
        index = index_of(lcr_id)
        return [gateway_struct(s.gateway, index[s.gateway.id]) for s in chosen]

    registry.add("lcr.reload", reload, "Reload lcr tables from database.")
    registry.add("lcr.dump_gws", dump_gws, "Dump the contents of the lcr_gw table.")
    registry.add(
        "lcr.dump_rules", dump_rules, "Dump the rules (of one lcr_id, matching a prefix).",
        Param("lcr_id", "int", required=False, default=0),
        Param("prefix", required=False),
    )  # fmt: skip
    registry.add(
        "lcr.defunct_gw", defunct_gw,
        "Take a gateway out of service for a period. Parameters: lcr_id, gw_id, seconds.",
        Param("lcr_id", "int", min=0), Param("gw_id", "int", min=0), Param("period", "int", min=0),
        missing="lcr_id, gw_id, and timestamp parameters required",
    )  # fmt: skip
    registry.add(
        "lcr.load_gws", load_gws,
        "The gateways selected for uri_user (and caller_uri, request_uri), best first.",
        Param("lcr_id", "int"), Param("uri_user", "any"),
        Param("caller_uri", required=False, default=""),
        Param("request_uri", required=False, default=""),
    )  # fmt: skip
