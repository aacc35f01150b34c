"""Where a SIP URI is reached: ``(proto, host, port)`` of a URI whose host is an address.

Below the codec and the dispatcher alike (both resolve URIs; neither imports the other
for it). No DNS yet: a host name is not reached.
"""

from __future__ import annotations

import functools
from typing import Any

from kamtool.core.sipdns import is_ip
from kamtool.sip.uri import SipURI


def dest_of_uri(uri: Any, default_proto: str = "udp") -> tuple[str, str, int] | None:
    """(proto, host, port) to reach ``uri`` when its host is an IP address (no DNS yet)."""
    if not isinstance(uri, SipURI):
        return None
    host = uri.maddr or uri.host
    if not _is_ip(host):
        return None
    proto = uri.transport or default_proto
    if uri.secure and proto in ("udp", "tcp"):
        proto = "tls"  # sips: TLS on every hop (RFC 5630); transport=tcp means TLS over TCP
    if proto not in ("udp", "tcp", "tls", "ws", "wss"):
        return None
    return proto, host, uri.port or _DEFAULT_PORT.get(proto, 5060)


_DEFAULT_PORT = {"tls": 5061, "ws": 80, "wss": 443}


# every relayed request asks, mostly for the same hosts
_is_ip = functools.lru_cache(maxsize=1024)(is_ip)
