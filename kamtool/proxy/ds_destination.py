"""A dispatcher destination as the proxy, its RPCs and route scripts see it: a view of the
engine's :class:`~kamtool.core.dispatch.model.DsDest` (the engine keeps the state)."""

from __future__ import annotations

from kamtool.core.dispatch.model import (
    DS_DISABLED,
    DS_INACTIVE,
    DS_PROBING,
    DS_TRYING,
    DsDest,
)

__all__ = ["Destination"]

_PROTO_NAMES = {0: "", 1: "udp", 2: "tcp", 3: "tls", 4: "sctp", 5: "ws", 6: "wss"}


class Destination:
    """One destination of a set as the proxy sees it: a view of the engine's
    :class:`~kamtool.core.dispatch.model.DsDest` (the engine keeps the state)."""

    __slots__ = ("ds",)

    def __init__(self, ds: DsDest) -> None:
        self.ds = ds

    set_id = property(lambda self: self.ds.set_id)
    uri = property(lambda self: self.ds.uri)
    priority = property(lambda self: self.ds.priority)
    description = property(lambda self: self.ds.description)
    host = property(lambda self: self.ds.host)  # as written in the URI (dispatcher.list full)
    port = property(lambda self: self.ds.port)  # 0 when the URI has none
    weight = property(lambda self: self.ds.attrs.weight)
    resolved_at = property(lambda self: self.ds.dnstime)  # unix time of the last lookup

    @property
    def attrs(self) -> str:
        return self.ds.attrs.body

    latency = property(lambda self: self.ds.latency)  # LatencyStats
    dload = property(lambda self: self.ds.dload)  # calls counted (algorithm 10)

    @property
    def transport(self) -> str:
        """The URI's transport parameter, lower case ("" when none)."""
        return _PROTO_NAMES.get(self.ds.proto, "")

    @property
    def state(self) -> int:
        return self.ds.flags

    @state.setter
    def state(self, bits: int) -> None:
        self.ds.flags = bits

    @property
    def failures(self) -> int:  # Kamailio's message_count
        return self.ds.message_count

    @property
    def dest(self) -> tuple[str, str, int] | None:
        """(proto, address, port) to send to; None until the name is resolved, or for a
        transport the proxy does not speak."""
        d = self.ds
        if d.address is None:
            return None
        secure = d.uri[:5].lower() == "sips:"
        proto = self.transport or ("tls" if secure else "udp")
        if secure and proto == "tcp":
            proto = "tls"
        if proto not in ("udp", "tcp", "tls"):
            return None
        port = d.port or d.resolved_port or (5061 if proto == "tls" else 5060)
        return proto, d.address, port

    @property
    def flags(self) -> str:
        """Kamailio's two letters: I/D/T/A, then P (probing) or X."""
        s = self.ds.flags
        if s & DS_INACTIVE:
            first = "I"
        elif s & DS_DISABLED:
            first = "D"
        elif s & DS_TRYING:
            first = "T"
        else:
            first = "A"
        return first + ("P" if s & DS_PROBING else "X")

    @property
    def usable(self) -> bool:
        """Eligible for selection: neither inactive nor disabled (trying is)."""
        return not self.ds.flags & (DS_INACTIVE | DS_DISABLED)
