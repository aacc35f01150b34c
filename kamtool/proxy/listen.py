"""The sockets ``kamtool serve`` binds (``--listen proto:host:port``): :class:`Listen`,
parsed and written in Kamailio's socket notation. Re-exported by
:mod:`kamtool.proxy.config`, where the settings that hold them live."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kamtool.errors import ConfigError

__all__ = ["DEFAULT_PORTS", "PROTOCOLS", "Listen"]

PROTOCOLS = ("udp", "tcp", "tls", "ws", "wss")  # ws/wss: SIP over WebSocket (RFC 7118)
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class Listen:
    """One socket to bind: ``proto:host:port`` (IPv6 hosts in brackets)."""

    proto: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        """Parse ``udp:127.0.0.1:5060``, ``tcp:[::1]:5060``, ``tls:127.0.0.1`` (port 5061)
        or ``127.0.0.1:5060`` (udp)."""
        spec = text.strip()
        proto = "udp"
        head, sep, rest = spec.partition(":")
        if sep and head.lower() in PROTOCOLS:
            proto, spec = head.lower(), rest
        elif sep and head.lower() == "sctp":
            raise ConfigError(f"listen {text!r}: sctp is not supported (udp, tcp, tls, ws, wss)")
        host, port = _split_host_port(spec, DEFAULT_PORTS[proto], what=f"listen {text!r}")
        return cls(proto, host, port)

    # read for every REGISTER and relayed request: written once
    _socket_str: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        host = f"[{self.host}]" if ":" in self.host else self.host
        object.__setattr__(self, "_socket_str", f"{self.proto}:{host}:{self.port}")

    @property
    def socket_str(self) -> str:
        """Kamailio's socket notation, as stored in ``location.socket``: ``udp:1.2.3.4:5060``."""
        return self._socket_str

    def __str__(self) -> str:
        return self.socket_str


def _split_host_port(spec: str, default_port: int | None, *, what: str) -> tuple[str, int]:
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port_s = rest[1:] if rest.startswith(":") else ""
    elif spec.count(":") == 1:
        host, port_s = spec.split(":")
    else:
        host, port_s = spec, ""
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise ConfigError(f"{what}: {host!r} is not an IP address") from exc
    if not port_s:
        if default_port is None:
            raise ConfigError(f"{what}: a port is required")
        return host, default_port
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ConfigError(f"{what}: bad port {port_s!r}")
    return host, int(port_s)
