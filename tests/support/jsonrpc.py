"""One JSON-RPC call over HTTP with the standard library (the test harnesses' own channel,
independent of the kamtool client under test)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def http_rpc(url: str, method: str, *params: Any, timeout: float = 10) -> Any:
    """POST ``method(params)`` to ``url``; return ``result`` or raise RuntimeError on an error
    reply. Connection failures raise OSError/URLError (harnesses poll on them at start)."""
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
    req = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # Kamailio puts the error code in the status
        reply = json.loads(exc.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply.get("result")
