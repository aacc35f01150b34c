"""WebSocket connections at run time (``ws.dump``, ``ws.close``), from Kamailio 5.6's
websocket module or kamtool's proxy, which answer alike.

``ws.dump`` gives one text line per connection, e.g.
``1: ws:127.0.0.1:58622 -> ws:127.0.0.1:8080 (state: OPEN,  last used 2s ago,
sub-protocol: sip)``; with a keepalive Ping unanswered, ``awaiting Pong,`` comes after
the state. Kamailio prints an IPv6 address without brackets, so the port is what follows
the last colon.
"""

from __future__ import annotations

import re
from typing import Any

from kamtool.core.runtime import Rpc
from kamtool.errors import RpcError

__all__ = ["close", "dump", "parse_line"]

_LINE = re.compile(
    r"^\s*(?P<id>\d+):\s*(?P<src>\S+)\s*->\s*(?P<dst>\S+)\s*"
    r"\(state:\s*(?P<state>[A-Z_]+),\s*(?P<pong>awaiting Pong,)?\s*"
    r"last used\s+(?P<idle>-?\d+)s ago,\s*sub-protocol:\s*(?P<sub>[^)]*)\)\s*$"
)


def _endpoint(text: str) -> tuple[str, str]:
    """``ws:1.2.3.4:5060`` -> ``("ws", "1.2.3.4:5060")``."""
    proto, _, address = text.partition(":")
    return proto.lower(), address


def parse_line(line: str) -> dict[str, Any] | None:
    """One ``ws.dump`` line as ``{id, proto, source, local, state, awaiting_pong, idle,
    subprotocol}``; None for a line of another shape."""
    m = _LINE.match(line)
    if m is None:
        return None
    proto, source = _endpoint(m["src"])
    _, local = _endpoint(m["dst"])
    return {
        "id": int(m["id"]),
        "proto": proto,
        "source": source,
        "local": local,
        "state": m["state"],
        "awaiting_pong": m["pong"] is not None,
        "idle": max(0, int(m["idle"])),
        "subprotocol": m["sub"].strip(),
    }


def dump(rpc: Rpc, order: str = "used_asc") -> dict[str, Any]:
    """``{rows, truncated}``: the open connections (``order``: ``id_hash``; ``used_asc``,
    most recently used first; ``used_desc``, least recently used first); ``truncated``
    when the server listed only its first ones (50 in Kamailio). Lines of an unknown
    shape are skipped."""
    answer = rpc.call("ws.dump", order)
    answer = answer if isinstance(answer, dict) else {}
    lines = answer.get("connections") or []
    rows = [r for r in (parse_line(str(line)) for line in lines) if r is not None]
    info = answer.get("info") if isinstance(answer.get("info"), dict) else {}
    return {"rows": rows, "truncated": str(info.get("truncated", "no")).lower() == "yes"}


def close(rpc: Rpc, conn_id: int) -> None:
    """Close connection ``conn_id`` (a 1000 close frame); RpcError when it is gone."""
    try:
        rpc.call("ws.close", int(conn_id))
    except RpcError as exc:
        raise RpcError(exc.rpc_code, f"ws.close {conn_id}: {exc.message}") from None
