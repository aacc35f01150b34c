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


def dgram_rpc(path: str, method: str, *params: Any, timeout: float = 10) -> Any:
    """``method(params)`` over a JSON-RPC unix datagram socket at ``path`` (Kamailio's
    jsonrpcs ``dgram_socket``): the answer comes back to a socket of our own, bound to a
    temporary path. Errors as :func:`http_rpc`; a missing server raises OSError."""
    import os
    import socket
    import tempfile

    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
    with tempfile.TemporaryDirectory(prefix="rpc-", dir="/tmp") as tmp:
        me = os.path.join(tmp, "c")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(me)
            sock.settimeout(timeout)
            sock.sendto(body.encode(), path)
            reply = json.loads(sock.recv(1 << 20))
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply.get("result")
