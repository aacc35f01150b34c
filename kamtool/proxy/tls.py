"""TLS contexts for ``tls:`` listeners (RFC 3261 §26.2, RFC 5630), with the options of
Kamailio's tls module: ``tls_certificate``, ``tls_private_key``, ``tls_ca_list``,
``tls_verify_certificate`` (check the servers we connect to) and
``tls_require_certificate`` (clients must present a certificate we can verify).

We connect to peers by IP address (no DNS yet), so a verified server certificate is
checked against the CA list but not against a host name.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamtool.errors import ConfigError


@dataclass(frozen=True)
class TlsContexts:
    """The server side (accepting) and client side (connecting) contexts."""

    server: ssl.SSLContext
    client: ssl.SSLContext

    def reload(self, config: Any) -> None:
        """Re-read the certificate, key and CA files into these contexts (``tls.reload``).

        The listeners keep the context objects they were started with, so the files are
        loaded into them in place: new handshakes use the new certificate, established
        connections keep theirs. Everything is read into fresh contexts first, so a bad
        file raises ConfigError and leaves the running contexts untouched. OpenSSL only
        adds to a context's trust store: a CA removed from ``tls_ca_list`` stays trusted
        until a restart.
        """
        tls_contexts(config)  # validate: raises before anything is changed
        ca_list = config.tls_ca_list or None
        for ctx in (self.server, self.client):
            _load_chain(ctx, config.tls_certificate, config.tls_private_key)
            if ca_list:
                _load_cas(ctx, ca_list)


def _readable(option: str, path: str | None) -> str:
    if not path:
        raise ConfigError(f"{option} is not set", hint="a tls listener needs a certificate")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{option} {path!r}: no such file")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {path!r}: cannot read it: {exc.strerror or exc}") from exc
    return str(p)


def _load_chain(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    try:
        # never echo a password prompt: an encrypted key is an error here
        ctx.load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"tls_certificate {cert!r} / tls_private_key {key!r}: not a usable PEM "
            f"certificate and matching key ({exc.reason or exc})"
        ) from exc


def _no_password() -> bytes:
    raise ConfigError("tls_private_key is encrypted: give an unencrypted key")


def _load_cas(ctx: ssl.SSLContext, ca_list: str) -> None:
    try:
        ctx.load_verify_locations(cafile=ca_list)
    except ssl.SSLError as exc:
        raise ConfigError(f"tls_ca_list {ca_list!r}: not PEM certificates ({exc})") from exc


def tls_contexts(config: Any) -> TlsContexts:
    """Build both contexts from ``config``; ConfigError when a file is missing or bad."""
    cert = _readable("tls_certificate", config.tls_certificate)
    key = _readable("tls_private_key", config.tls_private_key)
    ca_list = _readable("tls_ca_list", config.tls_ca_list) if config.tls_ca_list else None
    if config.tls_require_certificate and ca_list is None:
        raise ConfigError("tls_require_certificate needs tls_ca_list (the CAs to verify with)")
    if config.tls_verify_certificate and ca_list is None:
        raise ConfigError("tls_verify_certificate needs tls_ca_list (the CAs to verify with)")

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(server, cert, key)
    if ca_list:
        _load_cas(server, ca_list)
    server.verify_mode = ssl.CERT_REQUIRED if config.tls_require_certificate else ssl.CERT_NONE
    # No TLS 1.3 session tickets: SIP connections are long-lived, and some UAs (sipsak's
    # GnuTLS client) take the tickets that follow the handshake for a broken reply.
    server.num_tickets = 0

    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    client.check_hostname = False  # we connect by IP address
    _load_chain(client, cert, key)  # our certificate, for servers that ask for one
    if ca_list:
        _load_cas(client, ca_list)
    client.verify_mode = ssl.CERT_REQUIRED if config.tls_verify_certificate else ssl.CERT_NONE
    return TlsContexts(server, client)
