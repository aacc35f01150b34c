"""The example kamtool.toml that `kamtool config example` prints: every ``[proxy]`` key,
commented out, with its default.

The keys and their defaults come from :class:`kamtool.proxy.config.ProxyConfig` itself, so
the example cannot fall behind the code: a key added there appears here with its default
(``tests/test_setup_files.py`` also checks that each one has a description below).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import MISSING, fields
from typing import Any

# key -> what it does (one or two short lines): the one place the [proxy] keys are
# explained (kamtool/proxy/config.py's docstring points here); ProxyConfig's order is kept
DESCRIPTIONS: dict[str, str] = {
    "listen": "SIP sockets, proto:IP:port (udp, tcp, tls; IPv6 in brackets)",
    "db_url": "database of this proxy (else [db] url, else the SQLite file in the data dir)",
    "rpc_listen": 'IP:port of the JSON-RPC HTTP server; "" turns it off',
    "rpc_token": "bearer token JSON-RPC clients must send (needed off loopback)",
    "rpc_runtime_dir": "JSON-RPC FIFO and datagram socket directory "
    "($XDG_RUNTIME_DIR/kamtool, else /run/kamtool)",
    "domain": "SIP domain served, besides the listen addresses (recorded in an empty domain "
    "table); the digest realm stays the From domain",
    "aliases": "other host names that mean this proxy (uri == myself)",
    "auth": "digest authentication; false: nobody is challenged (labs only)",
    "calculate_ha1": "true: HA1 from the password column; false: the stored ha1/ha1b columns",
    "auth_use_domain": "find the subscriber by user and realm (auth_db use_domain)",
    "nonce_expire": "seconds a digest nonce stays valid",
    "trusted_group": "address group whose sources skip authentication (not for REGISTER)",
    "use_domain": "usrloc/alias_db keyed on user@domain instead of user",
    "db_mode": "usrloc: 0 memory, 1 write-through, 2 write-back, 3 database only",
    "timer_interval": "seconds between usrloc write-back / expiry sweeps",
    "min_expires": "shortest registration granted, seconds (see min_expires_mode)",
    "min_expires_mode": "registrar min_expires_mode: a shorter expires is raised to "
    "min_expires (0, Kamailio's default) or refused with 423 Interval Too Brief (1)",
    "max_expires": "longest registration granted, seconds (0: no limit)",
    "default_expires": "registration time when the REGISTER names none, seconds",
    "max_contacts": "contacts per AoR (0: no limit)",
    "fr_timer": "seconds to wait for a final response (non-INVITE, or INVITE before 1xx)",
    "fr_inv_timer": "seconds to wait for the final response of an INVITE after a 1xx",
    "t1": "RFC 3261 T1, seconds (retransmission start)",
    "t2": "RFC 3261 T2, seconds (retransmission cap)",
    "t4": "RFC 3261 T4, seconds (how long a message stays in the network)",
    "max_forwards": "Max-Forwards set on requests that have none",
    "tcp_connection_lifetime": "seconds an idle TCP/TLS connection is kept",
    "dialog_lifetime": "seconds a call may last; both sides get a BYE afterwards",
    "max_calls_per_caller": "concurrent calls per caller (From user, profile caller); more "
    "get 403 (0: no limit)",
    "max_calls_per_callee": "concurrent calls per local callee; more get 486 (0: no limit)",
    "max_calls": "concurrent calls through the proxy; more get 503 (0: no limit)",
    "tcp_max_connections": "TCP/TLS connections in all; newcomers are refused",
    "tcp_accept_iplimit": "TCP/TLS connections from one source address (0: no limit)",
    "tcp_msg_read_timeout": "seconds to complete a message once begun",
    "tcp_msg_data_timeout": "seconds for a new connection to send something",
    "tcp_fd_headroom": "file descriptors kept free; the oldest idle connection goes first",
    "tcp_conn_wq_max": "bytes that may wait for a TCP/TLS/WS peer to read; past it: closed",
    "route": "a KEMI route script (KSR API; default kamtool/proxy/routes/default.py); "
    '"builtin": the route coded in kamtool.proxy.routing',
    "rr_enable_full_lr": 'rr: ";lr=on" instead of ";lr" in Record-Route',
    "rr_append_fromtag": 'rr: ";ftag=" in Record-Route (as the reference cfg)',
    "nat_bflag": "usrloc nat_bflag: contacts registered with it get NAT keepalives",
    "server_signature": "add a Server header to our own replies",
    "server_header": "the value of that Server header",
    "secret": "key that signs digest nonces (random at each start when not set)",
    "server_id": "usrloc server_id written with each contact",
    "nat": "NAT fix-ups for phones behind NAT (nathelper, as kamailio.cfg WITH_NAT)",
    "nat_uac_test": "nat_uac_test() flags: 1 private Contact, 2 Via host not the source, "
    "16 Via port not the source (kamailio.cfg: 19)",
    "natping_interval": "seconds between OPTIONS keepalives to NATed UDP contacts (0: off)",
    "sipping_from": "From URI of those keepalives",
    "tls_certificate": "PEM certificate (chain) of the tls listeners",
    "tls_private_key": "PEM private key of that certificate",
    "tls_ca_list": "PEM CA certificates to verify TLS peers with",
    "tls_verify_certificate": "verify the certificate of servers we connect to",
    "tls_require_certificate": "clients must present a certificate (verified)",
    "pike": "flood detection; false: no pike, no bans",
    "pike_sampling_time_unit": "seconds per pike counting window",
    "pike_reqs_density_per_unit": "requests per window that get a source banned",
    "pike_remove_latency": "seconds a quiet address stays in pike's tree",
    "uac_reg_timer_interval": "seconds between checks of the upstream registrations (uacreg)",
    "uac_reg_retry_interval": "seconds before a failed upstream registration is retried (doubles)",
    "uac_restore_mode": "uac_replace_from/to: auto (replies and in-dialog requests get the "
    "original back; needs rr_append_fromtag), manual or none",
    "uac_auth_username_avp": "uac_auth(): the variable holding the user name toward an "
    'upstream that challenges ("$avp(auser)"; all three uac_auth_* or none)',
    "uac_auth_password_avp": "uac_auth(): the variable holding the password (HA1 with "
    "uac_auth_mode(1))",
    "uac_auth_realm_avp": "uac_auth(): the variable holding the realm; empty: any realm",
    "ipban_autoexpire": "seconds a banned source stays in htable ipban (0: forever)",
    "dlg_profiles_with_value": "dialog profiles counted per value (';'-separated); none set: "
    "any name is a profile (the default route uses caller, callee)",
    "dlg_profiles_no_value": "dialog profiles without values (the default route: inbound, "
    "outbound)",
    "shvset": "$shv presets as pv's shvset, ';'-separated: name=i:NUMBER or name=s:TEXT",
    "htables": "more htables for route scripts, in Kamailio's htable modparam syntax: "
    "name=>size=..;autoexpire=..;initval=..;updateexpire=..;dbtable=.. (kv is built in)",
    "sqlcon": "KSR.sqlops connections as sqlops' sqlcon modparam: name=>url (sqlite:////path, "
    "mysql://..., postgres://...); name=> alone: kamtool's own database",
    "overload": "503 new requests while the receive queue is older than overload_max_age",
    "overload_max_age": "seconds a request may wait in the receive queue (T1)",
    "overload_retry_after": "Retry-After of those 503s, seconds",
    "dispatch_set": "dispatcher set for INVITEs whose user matches dispatch_pattern",
    "dispatch_alg": "0 Call-ID hash, 4 round-robin, 6 random, 8 first by priority, "
    "9 weight= attribute, 11 rweight=, 13 latency-adjusted priority",
    "dispatch_pattern": 'R-URI user regex that goes to the dispatcher; "" turns it off',
    "ds_ping_method": "method of the dispatcher probes",
    "ds_ping_from": "From URI of the dispatcher probes",
    "ds_ping_interval": "seconds between dispatcher probes (0: off)",
    "ds_probing_mode": "0 none, 1 all, 2 inactive and probing, 3 probing flag only",
    "ds_probing_threshold": "failed probes before a destination is inactive",
    "ds_inactive_threshold": "good probes before it is active again",
    "ds_ping_reply_codes": "replies that count as alive, besides 200",
    "auth_qop": "challenges offer qop=auth (nonce counts then stop replays; the defences: "
    "kamtool/proxy/authconfig.py)",
    "nonce_count": "each nonce count accepted once (Kamailio's nonce_count)",
    "one_time_nonce": "a nonce answered without qop is good for one request",
    "auth_checks_register": "REGISTER nonces bound to: 1 R-URI, 2 Call-ID, 4 From tag, 8 source IP",
    "auth_checks_no_dlg": "the same binding for requests outside a dialog",
    "auth_checks_in_dlg": "the same binding for in-dialog requests",
    "auth_fail_limit": "failed authentications from one source before an ipban (0: never)",
    "auth_fail_window": "seconds a source's failures are remembered",
    "scanner_user_agents": 'User-Agent regex of scanners dropped unanswered ("": off)',
    "usrloc_ack_unstored": "db_mode 1, database away: true answers 200 (Kamailio), false 503",
    "ds_ping_latency_stats": "keep probe answer times (LATENCY in dispatcher.list)",
    "ds_hash_size": "> 0 keeps call load per destination (algorithm 10, RUNTIME DLGLOAD)",
    "ds_hash_pvar": 'what algorithm 7 hashes in route scripts, e.g. "$fU@$fd"',
    "dp_attrs_pvar": 'where KSR.dialplan puts the matching rule\'s attrs, e.g. "$var(attrs)"',
    "dp_match_dynamic": "variables in a regexp match_exp (^$var(pre)) take their values "
    "(dialplan match_dynamic)",
    "mt_char_list": "the characters mtree prefixes may hold (mtree char_list)",
    "mt_pv_value": "where KSR.mtree.mt_match puts the value found (mtree pv_value)",
    "maxfwd_max_limit": "the most Max-Forwards a relayed request leaves with (maxfwd max_limit)",
    "lcr_count": "lcr_ids served, 1 to this (lcr lcr_count; others are errors)",
    "lcr_tag_avp": 'where KSR.lcr.next_gw and from_gw put the gateway\'s tag, e.g. "$avp(tag)"',
    "lcr_flags_avp": "where they put the gateway's flags (lcr flags_avp)",
    "ds_dns_mode": "host names: 1 resolved at load, +2 again at each ds_is_from_list (at "
    "most once a second), +4 refreshed, +8 SRV first",
    "ds_dns_interval": "seconds between DNS refreshes (ds_dns_mode 4)",
    "hep": 'mirror every SIP message as HEPv3 to udp:IP:PORT (Homer, kamtool trace; "": none)',
    "hep_capture_id": "HEP capture agent id (siptrace hep_capture_id)",
    "hep_auth_key": "HEP auth key chunk (siptrace auth_key)",
    "ws_origins": "Origins a browser page may open ws:/wss: from (comma-separated; empty: any)",
    "rtpengine": "RTPEngine ng sockets (rtpengine_sock, =weight); the default route uses them",
    "topoh": "topology hiding (Kamailio's topoh): no inside address in what leaves",
    "topoh_mask_key": "topoh mask_key: the secret the masks are made with (needed with topoh)",
    "topoh_mask_ip": "topoh mask_ip: the address that replaces hidden hosts",
    "topoh_mask_callid": "topoh mask_callid: the Call-ID masked towards the callee side too",
    "topos": "topology stripping (Kamailio's topos): Via/Record-Route/Contact kept here",
    "topos_storage": "topos records: memory, or db (also in topos_d: survive a restart)",
    "hep_trace_on": "tracing on at start (siptrace trace_on, whose Kamailio default is off; "
    "siptrace.status switches it)",
    "workers": 'processes sharing the SIP sockets (SO_REUSEPORT); "auto": one per CPU',
    "state": 'Redis URL: registrations, bans, profile sizes shared by nodes ("": not)',
    "state_prefix": "Redis key prefix: one per cluster of kamtool nodes",
    "state_retry": "seconds between attempts to reach Redis again",
    "state_tables": "htables shared through Redis (comma-separated)",
    "use_path": "registrar use_path: store the REGISTER's Path (RFC 3327; Kamailio's default: off)",
    "path_mode": "registrar path_mode: 0 Path not echoed, 1 echoed when supported, 2 else 420",
    "path_use_received": "registrar path_use_received: the top Path URI's received= is the contact",
    "outbound_mode": "registrar outbound_mode (RFC 5626): 0 none, 1 supported, 2 required",
    "regid_mode": "registrar regid_mode: 1 keeps reg-id when outbound is not used",
    "flow_timer": "registrar flow_timer: Flow-Timer seconds in outbound 200s (0: none)",
    "edge_registrar": "act as an edge proxy (RFC 5626/3327) in front of this registrar URI: "
    "Path with a flow token, Record-Route ;ob, calls back over the client's connection",
    "flow_token_key": "outbound flow_token_key: the secret flow tokens are signed with "
    "(empty: random at each start)",
}

# shown for keys whose default is "not set"
PLACEHOLDERS: dict[str, Any] = {
    "edge_registrar": "sip:10.0.0.5:5060;transport=tcp",
    "flow_token_key": "a-long-random-string",
    "rpc_token": "a-long-random-string",
    "rpc_runtime_dir": "/run/kamtool",
    "domain": "example.com",
    "secret": "a-long-random-string",
    "tls_certificate": "/etc/kamtool/cert.pem",
    "tls_private_key": "/etc/kamtool/key.pem",
    "tls_ca_list": "/etc/kamtool/ca.pem",
    "db_url": "sqlite:////var/lib/kamtool/kamailio.sqlite",
    "aliases": ["sip.example.com"],
    "htables": ["cache=>size=8;autoexpire=60;", "counters=>size=4;initval=0;"],
    "sqlcon": ["ca=>", "cdr=>mysql://kamailio:password@db.example.com/cdrs"],
    "route": "/etc/kamtool/route.py",
    "hep": "udp:127.0.0.1:9060",
    "hep_auth_key": "a-shared-secret",
}

HEADER = """\
# kamtool.toml: /etc/kamtool/kamtool.toml, ~/.config/kamtool/kamtool.toml or --config FILE.
# Every [proxy] key of `kamtool serve`, with its default; `kamtool serve` flags win over
# these. Uncomment what you change.

# [db]
# url = "mysql://kamailio:kamailiorw@127.0.0.1/kamailio"
# [sip]
# domain = "example.com"
# [rpc]
# url = "http://127.0.0.1:5071/RPC"

[proxy]
"""


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal (strings, numbers, booleans and arrays of those)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def example_toml() -> str:
    """The example file: every ProxyConfig key, commented out, with its default."""
    from kamtool.proxy.config import ProxyConfig

    lines = [HEADER.rstrip("\n")]
    for f in fields(ProxyConfig):
        value = _default(f)
        if f.name == "listen":
            value = [str(listen) for listen in value]
        about = DESCRIPTIONS.get(f.name, "(see kamtool/proxy/config.py)")
        if value in (None, (), ""):
            value = PLACEHOLDERS.get(f.name, "")
            about += "; not set by default, for example:"
        lines += textwrap.wrap(about, 88, initial_indent="# ", subsequent_indent="#   ")
        lines += [f"# {f.name} = {toml_value(value)}", ""]
    return "\n".join(lines)
