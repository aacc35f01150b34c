"""dialplan module at run time: ``dialplan.reload``, ``dialplan.translate``, ``dialplan.dump``."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import NotFound, RpcError

# Kamailio's fault messages that mean "nothing there" rather than a failure
_NOT_FOUND = ("dialplan id not matched", "no translation")


def _call(rpc: Rpc, method: str, *params: Any) -> Any:
    try:
        return rpc.call(method, *params)
    except RpcError as exc:
        if any(m in str(exc.message).lower() for m in _NOT_FOUND):
            raise NotFound(exc.message, rpc_code=exc.rpc_code) from None
        raise


def reload(rpc: Rpc) -> str:
    """Reload the rules from the database (Kamailio keeps the old ones if one is bad)."""
    answer = rpc.call("dialplan.reload")
    return answer if isinstance(answer, str) and answer else "dialplan reloaded"


def translate(rpc: Rpc, dpid: int, value: str) -> dict[str, Any]:
    """``{"Output", "Attributes"}`` of the server; NotFound when nothing translates."""
    answer = _call(rpc, "dialplan.translate", int(dpid), str(value))
    answer = answer if isinstance(answer, dict) else {}
    return {"Output": answer.get("Output"), "Attributes": answer.get("Attributes")}


def dump_rows(answer: Any) -> list[dict[str, Any]]:
    """``{"DPID", "ENTRIES": [{"ENTRY": {PRIO, MATCHOP ...}}]}`` as table-like rows, in the
    order the server tries them (Kamailio prints empty strings as null)."""
    if not isinstance(answer, dict):
        return []
    rows = []
    for item in answer.get("ENTRIES") or []:
        entry = item.get("ENTRY", item) if isinstance(item, dict) else {}
        rows.append(
            {
                "dpid": answer.get("DPID"),
                "pr": entry.get("PRIO"),
                "match_op": entry.get("MATCHOP"),
                "match_exp": entry.get("MATCHEXP") or "",
                "match_len": entry.get("MATCHLEN"),
                "subst_exp": entry.get("SUBSTEXP") or "",
                "repl_exp": entry.get("REPLEXP") or "",
                "attrs": entry.get("ATTRS") or "",
            }
        )
    return rows


def dump(rpc: Rpc, dpid: int) -> list[dict[str, Any]]:
    return dump_rows(_call(rpc, "dialplan.dump", int(dpid)))
