"""domain module at run time: ``domain.dump`` and ``domain.reload``."""

from __future__ import annotations

from typing import Any

from kamtool.core.runtime import Rpc


def domain_rows(answer: Any) -> list[dict[str, Any]]:
    """``{"domains": [{domain, did}], "attributes": [...]}`` as rows ``{domain, did}``."""
    if not isinstance(answer, dict):
        return []
    return [
        {"domain": d.get("domain"), "did": d.get("did")}
        for d in answer.get("domains", []) or []
        if isinstance(d, dict)
    ]


def dump(rpc: Rpc) -> list[dict[str, Any]]:
    return domain_rows(rpc.call("domain.dump"))


def reload(rpc: Rpc) -> Any:
    return rpc.call("domain.reload")
