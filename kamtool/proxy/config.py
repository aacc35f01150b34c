"""ProxyConfig: every knob of the embedded proxy in one frozen object.

Built by :func:`proxy_config` from the merged :class:`~kamtool.config.Settings` (the TOML
``[proxy]`` section, the ``[db]``/``[sip]`` values) and then the ``kamtool serve`` flags,
in that order of precedence. Both the CLI and the Python API (tests) construct the
server from this object, so tests can shrink timers freely::

    [proxy]
    listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
    rpc_listen = "127.0.0.1:5071"      # "" disables the RPC server

Every key with its meaning and default: ``kamtool config example`` (the words are in
``kamtool/cli/config_example.py``, one place for all of them; a test checks that each
field here has its line there).

Defaults follow ``kamailio-interop.cfg`` (the reference configuration) where it sets a value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from kamtool.config import Settings
from kamtool.errors import ConfigError
from kamtool.proxy.authconfig import AuthSettings
from kamtool.proxy.config_edge import EdgeSettings
from kamtool.proxy.config_outbound import OutboundSettings
from kamtool.proxy.config_state import StateSettings
from kamtool.proxy.config_uac import UacSettings
from kamtool.proxy.config_workers import WorkerSettings, parse_workers
from kamtool.proxy.listen import Listen, _split_host_port

DEFAULT_LISTEN = ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
DEFAULT_RPC_LISTEN = "127.0.0.1:5071"
BUILTIN_ROUTE = "builtin"  # [proxy] route: an old name of the default route script


def _loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost`` (as :func:`kamtool.rpc.server.is_loopback`)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_host_port(text: str) -> tuple[str, int]:
    """``127.0.0.1:5071`` → (host, port) for the RPC listener; ``http:127.0.0.1:5071``
    (``--listen``'s form) and ``http://127.0.0.1:5071/RPC`` (the URL clients use) too."""
    spec = text.strip()
    low = spec.lower()
    if low.startswith("http://"):
        spec = spec[7:].split("/", 1)[0]
    elif low.startswith("http:"):
        spec = spec[5:]
    return _split_host_port(spec, None, what=f"rpc listen {text!r}")


@dataclass(frozen=True)
class ProxyConfig(
    AuthSettings, EdgeSettings, StateSettings, OutboundSettings, WorkerSettings, UacSettings
):
    """Configuration of :class:`kamtool.proxy.server.ProxyServer` (see module docstring)."""

    listen: tuple[Listen, ...] = tuple(Listen.parse(s) for s in DEFAULT_LISTEN)
    db_url: str = ""
    rpc_listen: str | None = DEFAULT_RPC_LISTEN
    rpc_token: str | None = None
    rpc_runtime_dir: str | None = None  # FIFO + datagram socket; None: $XDG_RUNTIME_DIR/kamtool
    domain: str | None = None
    aliases: tuple[str, ...] = ()
    auth: bool = True
    calculate_ha1: bool = True
    auth_use_domain: bool = True
    nonce_expire: int = 300
    trusted_group: int = 1
    use_domain: bool = False
    db_mode: int = 2
    usrloc_ack_unstored: bool = False  # db_mode 1: 200 for a contact the DB did not take
    timer_interval: float = 10.0
    min_expires: int = 10
    min_expires_mode: int = 0  # registrar's: 0 raises a shorter expires to min_expires, 1: 423
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 0
    fr_timer: float = 5.0
    fr_inv_timer: float = 120.0
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    max_forwards: int = 10
    tcp_connection_lifetime: float = 3605.0  # idle TCP connections are closed after this
    # TCP/TLS limits (kamtool/proxy/tcplimits.py; Kamailio's names, the last three 5.8's)
    tcp_max_connections: int = 2048  # open TCP+TLS connections in all
    tcp_accept_iplimit: int = 256  # accepted connections per source address; 0: no limit
    tcp_msg_read_timeout: float = 20.0  # a message begun must be complete within this
    tcp_msg_data_timeout: float = 20.0  # an accepted connection must send data within this
    tcp_fd_headroom: int = 128  # file descriptors kept free for JSON-RPC, DB, new clients
    tcp_conn_wq_max: int = 32 * 1024  # bytes waiting for a peer to read; past it: closed
    dialog_lifetime: int = 7200
    # call limits on the dialog profiles (get_profile_size in a cfg); 0 = no limit
    max_calls_per_caller: int = 0
    max_calls_per_callee: int = 0
    max_calls: int = 0
    server_signature: bool = False
    server_header: str = "kamtool"
    secret: bytes | None = field(default=None, repr=False)  # nonce signing key; random if None
    server_id: int = 0
    nat: bool = True
    nat_uac_test: int = 3  # not 19: see kamtool.proxy.nat (asymmetric signaling)
    natping_interval: int = 30
    sipping_from: str = "sip:pinger@kamtool.invalid"
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    tls_ca_list: str | None = None
    tls_verify_certificate: bool = False
    tls_require_certificate: bool = False
    # REQINIT flood protection: pike's modparams, and the ipban htable's autoexpire
    pike: bool = True
    pike_sampling_time_unit: float = 2.0
    pike_reqs_density_per_unit: int = 200
    pike_remove_latency: float = 4.0
    ipban_autoexpire: int = 300
    # dialog profiles, as the dialog module's modparams ("caller;callee"); none: any name
    dlg_profiles_with_value: str = ""
    dlg_profiles_no_value: str = ""
    shvset: str = ""  # $shv presets, pv's shvset: "name=i:0;motd=s:text" (kamtool.proxy.ksr)
    # more htables, in Kamailio's modparam("htable", "htable", ...) syntax (kamtool.proxy.htable)
    htables: tuple[str, ...] = ()
    # KSR.sqlops connections, sqlops' sqlcon modparam: "name=>url" ("name=>": kamtool's db)
    sqlcon: tuple[str, ...] = field(default=(), repr=False)
    uac_reg_timer_interval: float = 90.0  # uacreg: refresh with this much left (Kamailio's)
    uac_reg_retry_interval: float = 60.0  # first retry after a failure; doubles up to 8x
    # uac_replace_from/to: "auto" restores replies and in-dialog requests (Kamailio's
    # default; needs rr_append_fromtag), "manual" with uac_restore_from/to(), "none"
    uac_restore_mode: str = "auto"
    # overload protection (kamtool.proxy.overload): queue age limit and the 503's Retry-After
    # off by default: at 2-3x capacity the 503s cost most of the goodput (bench/README.md)
    overload: bool = False
    overload_max_age: float = 0.5
    overload_retry_after: int = 5
    dispatch_set: int = 1
    dispatch_alg: int = 4
    dispatch_pattern: str = "^9[0-9]+$"
    ds_ping_method: str = "OPTIONS"
    ds_ping_from: str = "sip:dispatcher@localhost"
    ds_ping_interval: float = 10.0
    ds_probing_mode: int = 1
    ds_probing_threshold: int = 1
    ds_inactive_threshold: int = 1
    ds_ping_reply_codes: str = "class=2;code=403;code=404;code=488;class=3"
    ds_ping_latency_stats: bool = False
    ds_hash_size: int = 0
    ds_hash_pvar: str = ""
    dp_attrs_pvar: str = ""
    dp_match_dynamic: bool = False  # dialplan match_dynamic: variables in regexp match_exp
    mt_char_list: str = "0123456789"
    maxfwd_max_limit: int = 70  # maxfwd max_limit: process_maxfwd lowers a larger value
    mt_pv_value: str = "$avp(s:tvalue)"
    lcr_count: int = 1  # lcr modparams: lcr_ids 1..lcr_count served (Kamailio's default 1)
    lcr_tag_avp: str = ""
    lcr_flags_avp: str = ""
    ds_dns_mode: int = 1
    ds_dns_interval: float = 600.0
    route: str | None = None  # KEMI script; None (or BUILTIN_ROUTE): routes/default.py
    rr_enable_full_lr: bool = False
    rr_append_fromtag: bool = True
    nat_bflag: int = 6
    hep: str = ""  # the HEP agent (kamtool.proxy.hep): siptrace's duplicate_uri, ...
    hep_capture_id: int = 1
    hep_auth_key: str = field(default="", repr=False)
    hep_trace_on: bool = True

    def __post_init__(self) -> None:
        if not self.listen:
            raise ConfigError("at least one --listen address is needed")
        if self.db_mode not in (0, 1, 2, 3):
            raise ConfigError(f"db_mode must be 0, 1, 2 or 3, not {self.db_mode}")
        if not 0 < self.min_expires <= self.default_expires:
            raise ConfigError("min_expires must be > 0 and <= default_expires")
        if self.max_expires and self.max_expires < self.min_expires:
            raise ConfigError("max_expires must be 0 (no limit) or >= min_expires")
        if self.min_expires_mode not in (0, 1):
            raise ConfigError("min_expires_mode must be 0 (raise to min_expires) or 1 (423)")
        for name in (
            "fr_timer",
            "fr_inv_timer",
            "timer_interval",
            "t1",
            "t2",
            "t4",
            "tcp_connection_lifetime",
            "pike_sampling_time_unit",
            "pike_remove_latency",
            "pike_reqs_density_per_unit",
            "overload_max_age",
            "tcp_max_connections",
            "tcp_msg_read_timeout",
            "tcp_msg_data_timeout",
            "tcp_conn_wq_max",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.rpc_listen:
            rpc_host, _ = parse_host_port(self.rpc_listen)
            if not self.rpc_token and not _loopback(rpc_host):
                # here, before anything is bound (the RPC server checks again)
                raise ConfigError(
                    f"refusing to serve JSON-RPC on non-loopback address {rpc_host} "
                    "without a token",
                    hint="set [rpc] token in the config file or KAMTOOL_RPC_TOKEN",
                )
        from kamtool.sip.nat import SUPPORTED_TESTS

        if self.nat_uac_test < 0 or self.nat_uac_test & ~SUPPORTED_TESTS:
            raise ConfigError(
                f"nat_uac_test {self.nat_uac_test}: supported flags are 1, 2, 4, 16, 32 and "
                "128 (SDP and WebSocket tests are not)"
            )
        if self.natping_interval < 0:
            raise ConfigError("natping_interval must be 0 (off) or positive")
        if any(lst.proto in ("tls", "wss") for lst in self.listen) and not (
            self.tls_certificate and self.tls_private_key
        ):
            raise ConfigError(
                "a tls or wss listener needs tls_certificate and tls_private_key",
                hint="--tls-certificate FILE --tls-private-key FILE, or the [proxy] section",
            )
        self.check_auth_settings()
        self.check_edge()
        self.check_workers()
        self.check_state()
        self.check_outbound()
        if self.ipban_autoexpire < 0:
            raise ConfigError("ipban_autoexpire must be 0 (never) or positive")
        if self.shvset:
            from kamtool.proxy.ksr.pvstores import parse_shvset

            try:
                parse_shvset(self.shvset)
            except ValueError as exc:
                raise ConfigError(
                    str(exc), hint='shvset = "maintenance=i:0;motd=s:hello"'
                ) from None
        self._check_htables()
        self._check_sqlcon()
        if self.uac_restore_mode.lower() not in ("auto", "manual", "none"):
            raise ConfigError("uac_restore_mode must be auto, manual or none")
        self.check_uac()
        for name in ("max_calls_per_caller", "max_calls_per_callee", "max_calls"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (no limit) or positive")
        self._check_dispatcher()
        if self.hep:
            from kamtool.proxy.hep import parse_hep_uri

            parse_hep_uri(self.hep)
        if not 0 <= self.hep_capture_id <= 0xFFFFFFFF:
            raise ConfigError("hep_capture_id must be between 0 and 4294967295")

    def _check_htables(self) -> None:
        from kamtool.proxy.htable import parse_table_spec

        names = set()
        for spec in self.htables:
            try:
                table = parse_table_spec(spec)
            except ValueError as exc:
                raise ConfigError(f"htables: {exc}",
                                  hint='htables = ["cache=>size=8;autoexpire=60;"]') from None
            if table.name in names or table.name in ("ipban", "authfail"):
                raise ConfigError(f"htables: table {table.name!r} is declared twice")
            names.add(table.name)

    def _check_sqlcon(self) -> None:
        from kamtool.proxy.ksr.sqlops_db import parse_sqlcon

        names = set()
        for spec in self.sqlcon:
            try:
                name = parse_sqlcon(spec, self.db_url).name
            except ValueError as exc:
                hint = 'sqlcon = ["ca=>mysql://user:pw@host/db"]'
                raise ConfigError(str(exc), hint=hint) from None
            if name in names:
                raise ConfigError(f"sqlcon: connection {name!r} is declared twice")
            names.add(name)

    def _check_dispatcher(self) -> None:
        import re

        from kamtool.proxy.dispatcher import ALGORITHMS, parse_reply_codes

        if self.dispatch_alg not in ALGORITHMS:
            known = ", ".join(f"{k} {v}" for k, v in ALGORITHMS.items())
            raise ConfigError(f"dispatch_alg {self.dispatch_alg} is not supported ({known})")
        if self.ds_probing_mode not in (0, 1, 2, 3):
            raise ConfigError("ds_probing_mode must be 0, 1, 2 or 3")
        if self.ds_ping_interval < 0:
            raise ConfigError("ds_ping_interval must be 0 (off) or positive")
        if not 0 <= self.ds_dns_mode <= 15:
            raise ConfigError(
                "ds_dns_mode must combine 1 (at load), 2 (at each ds_is_from_list), "
                "4 (refresh), 8 (SRV)"
            )
        if self.ds_dns_interval <= 0:
            raise ConfigError("ds_dns_interval must be positive")
        if not 1 <= self.maxfwd_max_limit <= 255:
            raise ConfigError("maxfwd_max_limit must be between 1 and 255")
        if self.lcr_count < 1:
            raise ConfigError("lcr_count must be 1 or more (lcr_ids 1 to lcr_count are served)")
        if self.ds_probing_threshold < 1 or self.ds_inactive_threshold < 1:
            raise ConfigError("ds_probing_threshold and ds_inactive_threshold must be >= 1")
        try:
            parse_reply_codes(self.ds_ping_reply_codes)
            re.compile(self.dispatch_pattern)
        except (ValueError, re.error) as exc:
            raise ConfigError(f"dispatcher settings: {exc}") from exc

    @property
    def dispatcher_settings(self) -> Any:
        """The :class:`~kamtool.proxy.dispatcher.DispatcherSettings` of this config."""
        from kamtool.proxy.dispatcher import DispatcherSettings

        return DispatcherSettings(
            ping_method=self.ds_ping_method,
            ping_from=self.ds_ping_from,
            ping_interval=self.ds_ping_interval,
            probing_threshold=self.ds_probing_threshold,
            inactive_threshold=self.ds_inactive_threshold,
            probing_mode=self.ds_probing_mode,
            ping_reply_codes=self.ds_ping_reply_codes,
            latency_stats=self.ds_ping_latency_stats,
            hash_size=self.ds_hash_size,
            dns_mode=self.ds_dns_mode,
            dns_interval=self.ds_dns_interval,
        )

    @property
    def served_domain(self) -> str | None:
        """The domain recorded in an empty ``domain`` table: ``domain``, else the first
        specific listen address (a wildcard address names no domain)."""
        if self.domain:
            return self.domain
        for lst in self.listen:
            if lst.host not in ("0.0.0.0", "::"):
                return lst.host
        return None

    @property
    def local_names(self) -> frozenset[str]:
        """Host names that mean "this proxy" (``uri == myself``): listen IPs, domain, aliases."""
        names = {lst.host.lower() for lst in self.listen}
        if self.domain:
            names.add(self.domain.lower())
        names.update(a.lower() for a in self.aliases)
        if "0.0.0.0" in names or "::" in names:
            names.update({"127.0.0.1", "localhost"})
        return frozenset(names)

    def with_changes(self, **changes: Any) -> ProxyConfig:
        """A copy with some fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_FIELDS = {f.name: f for f in fields(ProxyConfig)}
# a TOML value's type follows its field's annotation ("int", "float | None" ...): one list of
# settings, the dataclass; listen, aliases, htables, sqlcon, secret: converted in _coerce
_KIND = {name: str(f.type).removesuffix(" | None") for name, f in _FIELDS.items()}


def _coerce(section: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in section.items():
        try:
            if key == "listen":
                items = [value] if isinstance(value, str) else list(value)
                out["listen"] = tuple(Listen.parse(str(v)) for v in items)
            elif key in ("aliases", "htables", "sqlcon"):
                out[key] = tuple(str(v) for v in ([value] if isinstance(value, str) else value))
            elif key == "workers":  # a count or "auto" (config_workers)
                out["workers"] = parse_workers(value)
            elif key == "secret":
                out["secret"] = str(value).encode()
            elif _KIND.get(key) == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError
                out[key] = value
            elif _KIND.get(key) == "float":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise TypeError
                out[key] = float(value)
            elif _KIND.get(key) == "bool":
                if not isinstance(value, bool):
                    raise TypeError
                out[key] = value
            elif _KIND.get(key) == "str":
                out[key] = None if value == "" and key == "rpc_listen" else str(value)
            else:
                raise ConfigError(f"[proxy] unknown setting {key!r}")
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[proxy] {key}: bad value {value!r}") from exc
    return out


def proxy_config(
    settings: Settings,
    *,
    listen: list[str] | None = None,
    db_url: str | None = None,
    domain: str | None = None,
    rpc_listen: str | None = None,
    **overrides: Any,
) -> ProxyConfig:
    """Merge ``settings`` (TOML ``[proxy]``, db url, sip domain) and CLI flags into a config.

    Flags win over the TOML section, which wins over the global settings.
    """
    values: dict[str, Any] = {"db_url": settings.effective_db_url, "rpc_token": settings.rpc_token}
    if settings.sip_domain:
        values["domain"] = settings.sip_domain
    values.update(_coerce(settings.section("proxy")))
    if listen:
        values["listen"] = tuple(Listen.parse(s) for s in listen)
    if db_url:
        values["db_url"] = db_url
    if domain:
        values["domain"] = domain
    if rpc_listen is not None:
        values["rpc_listen"] = rpc_listen or None
    values.update({k: v for k, v in overrides.items() if v is not None and k in _FIELDS})
    return ProxyConfig(**values)
