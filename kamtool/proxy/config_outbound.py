"""The ``[proxy]`` settings of Path (RFC 3327) and SIP Outbound (RFC 5626): the registrar's
``use_path``/``path_mode``/``outbound_mode``/... modparams under Kamailio's names, and
``edge_registrar`` (the default route as an edge proxy). :class:`~kamtool.proxy.config.
ProxyConfig` inherits them; described in ``kamtool/cli/config_example.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

from kamtool.errors import ConfigError


@dataclass(frozen=True)
class OutboundSettings:
    # registrar use_path: store the Path vector (Kamailio's default is 0, which drops it;
    # kamtool stores it, so a registrar behind an edge proxy works without a setting)
    use_path: bool = True
    path_mode: int = 2  # registrar path_mode: 0 off, 1 lazy, 2 strict (420 without support)
    path_use_received: bool = False  # the first Path URI's received= becomes the contact's
    # registrar outbound_mode: 0 none, 1 supported, 2 required. kamtool's default is 1
    # (Kamailio's 0): browsers register with reg-id and expect Require: outbound back
    outbound_mode: int = 1
    regid_mode: int = 0  # registrar regid_mode: 1 keeps reg-id without outbound
    flow_timer: int = 0  # registrar flow_timer: Flow-Timer in outbound 200s (0: none)
    # the default route as an RFC 5626 edge proxy in front of this registrar (a SIP URI)
    edge_registrar: str = ""
    flow_token_key: str = field(default="", repr=False)  # outbound flow_token_key (a secret)

    def check_outbound(self) -> None:
        """ConfigError for Path/Outbound settings that cannot work."""
        if self.path_mode not in (0, 1, 2):
            raise ConfigError("path_mode must be 0 (off), 1 (lazy) or 2 (strict)")
        if self.outbound_mode not in (0, 1, 2):
            raise ConfigError("outbound_mode must be 0 (none), 1 (supported) or 2 (required)")
        if self.regid_mode not in (0, 1):
            raise ConfigError("regid_mode must be 0 or 1")
        if not 0 <= self.flow_timer <= 999:
            raise ConfigError("flow_timer must be between 0 (none) and 999 seconds")
        if self.flow_timer and not self.outbound_mode:
            raise ConfigError("flow_timer needs outbound_mode 1 or 2 (as Kamailio's registrar)")
        if self.edge_registrar:
            from kamtool.proxy.dest import dest_of_uri
            from kamtool.sip.errors import ParseError
            from kamtool.sip.uri import parse_uri

            try:
                dest = dest_of_uri(parse_uri(self.edge_registrar))
            except ParseError:
                dest = None
            if dest is None:
                raise ConfigError(
                    f"edge_registrar {self.edge_registrar!r}: a sip: URI with an IP address",
                    hint='edge_registrar = "sip:10.0.0.5:5060;transport=tcp"',
                )
