"""``core.tcp_list``, ``core.tcp_options`` and, with a ``tls:`` listener, ``tls.list``,
``tls.info``, ``tls.options`` and ``tls.reload``: the proxy's TCP/TLS connections and
settings in the shapes Kamailio 5.6 answers them (its core and tls module).

What kamtool has no twin for is left out rather than made up: Kamailio's OpenSSL and
write-queue tuning (``ssl_freelist_max``, ``low_mem_threshold1``, ``conn_wq_max`` ...),
its per-domain ``tls.cfg`` (``config``) and reference counts (always 1 here: the
connection table holds each connection once). WebSocket connections are listed by
``ws.dump``, not here. Kamailio's TLS connections live ``tls connection_timeout``
(600 s); kamtool's live ``tcp_connection_lifetime`` like the TCP ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kamtool.errors import ConfigError
from kamtool.rpc.methods import Registry, RpcFault

__all__ = ["register"]

#: Kamailio's tls_server.h: the connection finished its handshake (asyncio hands a TLS
#: connection over only then)
F_TLS_CON_HANDSHAKED = 2


def _state(conn: Any) -> str:
    """Kamailio's connection state names: connecting, accepted (nothing read yet), ok."""
    if conn.transport is None:
        return "CONN_CONNECT" if conn.outbound else "CONN_EOF"
    if not conn.outbound and not conn.got_data:
        return "CONN_ACCEPT"
    return "CONN_OK"


def _local(conn: Any) -> tuple[str, int]:
    sock = conn.transport.get_extra_info("sockname") if conn.transport is not None else None
    return (str(sock[0]), int(sock[1])) if sock else (conn.listen.host, 0)


def _cipher(conn: Any) -> str:
    """OpenSSL's one-line description of the session's cipher, as Kamailio prints it."""
    sslobj = conn.transport.get_extra_info("ssl_object") if conn.transport else None
    negotiated = sslobj.cipher() if sslobj is not None else None
    if not negotiated:
        return "unknown"
    name = negotiated[0]
    context = sslobj.context
    for known in context.get_ciphers():
        if known["name"] == name:
            return str(known["description"]).strip()
    return f"{name} {negotiated[1]}"


def register(
    registry: Registry,
    transports: Any,
    config: Any,
    *,
    tls: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Add the methods over ``transports`` (:class:`kamtool.proxy.transport.Transports`)
    and ``config`` (:class:`kamtool.proxy.config.ProxyConfig`); ``tls``: add ``tls.*``
    (Kamailio has them only with its tls module loaded)."""
    lifetime = int(config.tcp_connection_lifetime)
    guard = transports.guard

    def connections(proto: str | None = None) -> list[Any]:
        conns = sorted(transports.connections.values(), key=lambda c: c.id)
        return [c for c in conns if proto is None or c.proto == proto]

    def timeout(conn: Any) -> int:
        """Seconds until the connection is closed for idleness (or for saying nothing)."""
        silent = not conn.outbound and not conn.got_data
        limit = min(lifetime, guard.data_timeout) if silent else lifetime
        return max(0, int(limit - (clock() - conn.last_active)))

    def peers(conn: Any) -> dict[str, Any]:
        # Kamailio's "src" is the other end and "dst" our socket, for accepted
        # connections and those it opened alike (the receive info of the connection)
        dst_ip, dst_port = _local(conn)
        return {"src_ip": conn.peer[0], "src_port": conn.peer[1],
                "dst_ip": dst_ip, "dst_port": dst_port}  # fmt: skip

    def tcp_list() -> list[dict[str, Any]]:
        return [
            {
                "id": c.id,
                "type": c.proto.upper(),
                "state": _state(c),
                "timeout": timeout(c),
                "lifetime": lifetime,
                "ref_count": 1,
                **peers(c),
            }
            for c in connections()
        ]

    def tcp_options() -> dict[str, Any]:
        return {
            "connection_lifetime": lifetime,
            "max_connections(soft)": guard.cap,
            "max_tls_connections(soft)": guard.cap,  # one limit for TCP and TLS here
            "crlf_ping": 1,  # RFC 5626 keepalives answered
            "accept_aliases": 0,
        }

    def write_queued(conn: Any) -> int:
        return conn.transport.get_write_buffer_size() if conn.transport is not None else 0

    def tls_list() -> list[dict[str, Any]]:
        return [
            {
                "id": c.id,
                "timeout": timeout(c),
                **peers(c),
                "cipher": _cipher(c),
                "ct_wq_size": write_queued(c),
                "enc_rd_buf": 0,
                "flags": F_TLS_CON_HANDSHAKED,
                "state": "established",
            }
            for c in connections("tls")
            if c.transport is not None
        ]

    def tls_info() -> dict[str, int]:
        conns = connections("tls")
        return {
            "max_connections": guard.cap,
            "opened_connections": len(conns),
            "clear_text_write_queued_bytes": sum(write_queued(c) for c in conns),
        }

    def tls_options() -> dict[str, Any]:
        return {
            "method": "TLSv1.2+",  # kamtool/proxy/tls.py: TLS 1.2 or newer
            "verify_certificate": int(bool(config.tls_verify_certificate)),
            "require_certificate": int(bool(config.tls_require_certificate)),
            "verify_client": "on" if config.tls_require_certificate else "off",
            "private_key": config.tls_private_key,
            "ca_list": config.tls_ca_list or None,
            "certificate": config.tls_certificate,
            "connection_timeout": lifetime,
            "disable_compression": 1,  # Python's ssl contexts set OP_NO_COMPRESSION
            "send_close_notify": 1,  # asyncio's TLS transport closes with close_notify
        }

    def tls_reload() -> str:
        """Kamailio re-reads tls.cfg; kamtool has none and re-reads the certificate files."""
        contexts = getattr(transports, "tls", None)
        if contexts is None:
            raise RpcFault(500, "TLS support not loaded")
        try:
            contexts.reload(config)
        except ConfigError as exc:
            # Kamailio answers a bad tls.cfg with a 500 fault and keeps the old settings
            raise RpcFault(500, f"Error while loading TLS configuration: {exc}") from exc
        return "Ok. TLS configuration reloaded."

    registry.add("core.tcp_list", tcp_list, "The open TCP and TLS connections.")
    registry.add("core.tcp_options", tcp_options, "The TCP settings in effect.")
    if tls:
        registry.add("tls.list", tls_list, "The open TLS connections with their ciphers.")
        registry.add("tls.info", tls_info, "TLS connection count, limit and queued bytes.")
        registry.add("tls.options", tls_options, "The TLS settings in effect.")
        registry.add("tls.reload", tls_reload, "Re-read the certificate, key and CA files.")
