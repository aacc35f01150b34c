"""The ``[proxy]`` settings of the edge (issue #18): WebSocket Origins, RTPEngine and
topology hiding. :class:`~kamtool.proxy.config.ProxyConfig` inherits them; kept here so
the main settings file stays small. Described in ``kamtool/cli/config_example.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

from kamtool.errors import ConfigError


@dataclass(frozen=True)
class EdgeSettings:
    ws_origins: str = ""  # the Origin allow-list of ws:/wss: listeners (kamtool.proxy.ws)
    rtpengine: str = ""  # rtpengine_sock: the default route relays media through them
    topoh: bool = False  # Kamailio's topoh on every message in and out (kamtool.proxy.topoh)
    topoh_mask_key: str = field(default="", repr=False)  # a secret: never printed
    topoh_mask_ip: str = "127.0.0.8"  # topoh's default mask_ip
    topoh_mask_callid: bool = False
    topos: bool = False  # Kamailio's topos: the other side's Via/Record-Route/Contact kept here
    topos_storage: str = "memory"  # or "db": dialogs also in topos_d (they survive a restart)

    def check_edge(self) -> None:
        """ConfigError for edge settings that cannot work."""
        if self.topos_storage not in ("memory", "db"):
            raise ConfigError(f"topos_storage {self.topos_storage!r}: memory or db")
        if self.topoh and self.topos:
            raise ConfigError("topoh and topos cannot both be on", hint="choose one")
        if self.topoh and not self.topoh_mask_key:
            raise ConfigError("topoh needs topoh_mask_key", hint='topoh_mask_key = "a secret"')
        if self.rtpengine:
            from kamtool.sip.ng import NgError, parse_nodes

            try:
                parse_nodes(self.rtpengine)
            except NgError as exc:
                raise ConfigError(f"rtpengine: {exc}") from None
