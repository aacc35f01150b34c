"""Cross-site protection of the HTTP JSON-RPC endpoint (a browser as the attacker's proxy).

A web page cannot read our answers (no CORS headers), but without these checks it could
still *send* requests: a ``text/plain`` POST is a "simple" request browsers send without
asking, and DNS rebinding (a name of the attacker's that resolves to 127.0.0.1) even
makes the answers same-origin. Three rules, each answered with a clear 4xx:

* **Host allow-list** (403): an IP literal, ``localhost`` (and ``*.localhost``), this
  host's name, or a name given in ``allowed_hosts``. Rebinding always carries the
  attacker's own name in ``Host``; tools that send no ``Host`` (HTTP/1.0) are served.
  Only without a token: a rebound page has no token to send.
* **Origin** (403): browsers add ``Origin`` to cross-origin POSTs, and modern ones
  ``Sec-Fetch-Site``; we serve no web pages, so any Origin other than our own address
  is foreign.
* **Content type** (415): a call that changes state needs a JSON content type
  (``application/json``, or ``application/json-rpc``/``application/jsonrequest``, the
  JSON-RPC-over-HTTP ones), which a browser cannot send cross-site without a CORS
  preflight we never grant. Reads (:data:`READ_ONLY_METHODS`) are served whatever the
  type, so ``curl -d`` keeps working for them.

Kamailio's xhttp + jsonrpcs checks none of this (any ``POST /RPC`` runs).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from kamtool.core.sipdns import is_ip

__all__ = ["JSON_TYPES", "READ_ONLY_METHODS", "CrossSiteGuard"]

JSON_TYPES = frozenset({"application/json", "application/json-rpc", "application/jsonrequest"})

# methods that only read: served to any content type. Everything else (including names
# we do not know, and dispatcher.ping_active which also sets) needs a JSON content type.
READ_ONLY_METHODS = frozenset({
    "cfg.get", "cfg.help", "cfg.list", "core.echo", "core.info", "core.modules", "core.ps",
    "core.psa", "core.psx", "core.runinfo", "core.shmmem", "core.sockets_list",
    "core.tcp_info", "core.tcp_list", "core.tcp_options", "core.uptime", "core.version",
    "core.workers", "dispatcher.list", "dlg.briefing",
    "dlg.list", "dlg.list_ctx", "dlg.profile_get_size", "dlg.profile_list",
    "dlg.stats_active", "domain.dump", "htable.dump", "htable.get", "htable.listTables",
    "htable.stats", "jsonrpc.echo", "permissions.addressDump", "permissions.domainDump",
    "permissions.subnetDump", "permissions.trustedDump", "pike.list", "pike.top",
    "sl.stats", "stats.fetch", "stats.fetchn", "stats.get_statistics",
    "system.listMethods", "system.methodHelp", "system.methodSignature", "tm.hash_stats",
    "tls.info", "tls.list", "tls.options", "tm.stats", "ul.dump", "ul.lookup",
})  # fmt: skip


def _host_part(value: str) -> str:
    """``name:port``/``[v6]:port``/``name`` → the host, lower case, no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class CrossSiteGuard:
    """The three checks; each ``*_problem`` returns None or the refusal's message."""

    def __init__(self, port: Callable[[], int], allowed_hosts: Iterable[str] = ()) -> None:
        self.port = port  # ours, read late: port 0 is chosen at bind time
        names = {"localhost", socket.gethostname().lower()}
        self.names = names | {_host_part(h) for h in allowed_hosts if h}

    def allowed_host(self, host: str) -> bool:
        return is_ip(host) or host in self.names or host.endswith(".localhost")

    def host_problem(self, headers: dict[str, str]) -> str | None:
        raw = headers.get("host")
        if raw is None:
            return None
        host = _host_part(raw)
        if self.allowed_host(host):
            return None
        return f"Forbidden: Host {host[:100]!r} is not an address of this server"

    def origin_problem(self, headers: dict[str, str]) -> str | None:
        if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return "Forbidden: cross-site request"
        origin = headers.get("origin")
        if origin is None:
            return None
        try:
            parts = urlsplit(origin.strip())
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            parts, port = None, None
        host = parts.hostname if parts is not None else None
        if host and self.allowed_host(host) and port == self.port():
            return None  # our own origin
        return f"Forbidden: cross-origin request from {origin.strip()[:100]!r}"

    @staticmethod
    def content_problem(headers: dict[str, str], methods: list[Any]) -> str | None:
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media in JSON_TYPES:
            return None
        changing = [m for m in methods if m not in READ_ONLY_METHODS]
        if not changing:
            return None
        return (
            f"Unsupported Media Type: {str(changing[0])[:60]} changes state: "
            "send it with Content-Type: application/json"
        )
