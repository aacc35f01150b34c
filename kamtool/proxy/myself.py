"""Who we are: ``uri == myself`` and the local domains, from the configuration alone.

Every step that must tell our own addresses from others' (loose routing, Record-Route
matching, topoh, ``KSR.is_myself``, the replies routed back by Via) asks this one object.
"""

from __future__ import annotations

from typing import Any


class Myself:
    """The proxy's names (listen addresses, aliases, served domain) and listen ports,
    plus the ``domain`` table (``is_uri_host_local``) when there is one."""

    __slots__ = ("domains", "names", "ports")

    def __init__(self, config: Any, domains: Any = None) -> None:
        self.names = config.local_names
        self.ports = {lst.port for lst in config.listen}
        self.domains = domains  # kamtool.proxy.tables.DomainTable, or None

    def is_myself(self, uri: Any) -> bool:
        """``uri == myself``: the host is one of ours and the port (if any) one of ours."""
        host = getattr(uri, "host", None)
        if not host or host.lower() not in self.names:
            return False
        port = getattr(uri, "port", None)
        return port is None or port in self.ports

    def is_local_domain(self, uri: Any) -> bool:
        """``uri == myself || is_uri_host_local()``: listen IPs, domain, aliases, domain table."""
        host = getattr(uri, "host", None)
        if not host:
            return False
        host = host.lower()
        if host in self.names:
            return True
        return self.domains is not None and self.domains.is_local(host)

    def via_is_ours(self, via: Any) -> bool:
        """The top Via of a reply names one of our listeners (we sent its request)."""
        return via.host.lower() in self.names and (via.port or 5060) in self.ports
