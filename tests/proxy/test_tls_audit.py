"""A black-box TLS audit of ``kamtool serve``'s ``tls:`` listener, over real loopback
sockets: the protocol versions and ciphers it accepts, the chain it presents, SNI, client
certificates, clients that never handshake or speak plain SIP, and the ``tls.*`` RPCs in
Kamailio 5.6's shapes (its tls module's tls_rpc.c), including ``tls.reload``."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kamtool.proxy.config import Listen
from tests.proxy.harness import low_free_port
from tests.support.jsonrpc import http_rpc
from tests.support.ports import free_port
from tests.support.require import unavailable

OPTIONS = (
    b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK%s\r\n"
    b"From: <sip:audit@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: audit-%s\r\n"
    b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)

#: the members of one tls.list entry and of tls.info in Kamailio 5.6 (tls_rpc.c)
KAMAILIO_TLS_LIST_KEYS = {"id", "timeout", "src_ip", "src_port", "dst_ip", "dst_port",
                          "cipher", "ct_wq_size", "enc_rd_buf", "flags", "state"}  # fmt: skip
KAMAILIO_TLS_INFO_KEYS = {"max_connections", "opened_connections",
                          "clear_text_write_queued_bytes"}  # fmt: skip


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(d: Path, name: str, issuer: str, ext: str) -> None:
    """``name``.pem/.key signed by ``issuer``.pem/.key with the extensions ``ext``."""
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    (d / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey",
             f"{issuer}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
             "-extfile", f"{name}.ext", cwd=d)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """root -> intermediate -> {server (127.0.0.1), client}, plus a self-signed stranger;
    chain.pem is the server certificate followed by the intermediate."""
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    d = tmp_path_factory.mktemp("tls_audit")
    ca = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out",
             "root.pem", "-days", "2", "-subj", "/CN=root", "-addext",
             "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign", cwd=d)  # fmt: skip
    _signed(d, "int", "root", ca)
    _signed(d, "server", "int", "subjectAltName=IP:127.0.0.1\n")
    _signed(d, "client", "int", "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "stranger.key",
             "-out", "stranger.pem", "-days", "2", "-subj", "/CN=stranger", cwd=d)  # fmt: skip
    (d / "chain.pem").write_text((d / "server.pem").read_text() + (d / "int.pem").read_text())
    (d / "cas.pem").write_text((d / "root.pem").read_text() + (d / "int.pem").read_text())
    return d


@pytest.fixture
def tls_server(start_proxy, pki, tmp_path):
    """Factory: a proxy with a tls listener (``.tls_port``) and JSON-RPC (``.rpc_url``)."""

    def start(**changes: Any) -> Any:
        port, tls_port, rpc_port = low_free_port(), low_free_port(), free_port()
        settings: dict[str, Any] = {
            "tls_certificate": str(pki / "chain.pem"),
            "tls_private_key": str(pki / "server.key"),
            "rpc_listen": f"127.0.0.1:{rpc_port}",
            "rpc_runtime_dir": str(tmp_path / "rt"),
            **changes,
        }
        proxy = start_proxy(
            listen=(Listen("udp", "127.0.0.1", port), Listen("tls", "127.0.0.1", tls_port)),
            **settings,
        )
        proxy.tls_port = tls_port
        proxy.rpc_url = f"http://127.0.0.1:{rpc_port}/RPC"
        return proxy

    return start


def client_ctx(
    version: ssl.TLSVersion | None = None, ciphers: str | None = None, cafile: str | None = None
) -> ssl.SSLContext:
    """A client context pinned to ``version`` (None: any), at OpenSSL security level 0
    so that it can offer what the server must refuse."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cafile:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    ctx.set_ciphers(ciphers or "ALL:@SECLEVEL=0")
    return ctx


def connect(port: int, ctx: ssl.SSLContext, server_name: str | None = None) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return ctx.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


def options_ok(tls: ssl.SSLSocket, tag: str = "1") -> bool:
    """Send an OPTIONS and tell whether a SIP response comes back on the connection."""
    tls.sendall(OPTIONS % (tag.encode(), tag.encode()))
    try:
        return tls.recv(4096).startswith(b"SIP/2.0 ")
    except (OSError, ssl.SSLError):
        return False


def refused(port: int, ctx: ssl.SSLContext) -> bool:
    """True when the handshake fails or the connection is dropped before any SIP reply
    (a TLS 1.3 server checks the client's certificate after the client has finished)."""
    try:
        with connect(port, ctx) as tls:
            return not options_ok(tls, "refused")
    except (OSError, ssl.SSLError):
        return True


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (ssl.TLSVersion.TLSv1, False),
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ],
    ids=["tls1.0", "tls1.1", "tls1.2", "tls1.3"],
)
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_protocol_versions(tls_server, version, accepted) -> None:
    """TLS 1.0 and 1.1 are refused even to a client that offers nothing else (this
    client does complete a TLS 1.0 handshake with a server that allows it); 1.2 and 1.3
    carry SIP."""
    proxy = tls_server()
    ctx = client_ctx(version)
    if accepted:
        with connect(proxy.tls_port, ctx) as tls:
            assert tls.version() == version.name.replace("_", ".")
            assert options_ok(tls)
    else:
        assert refused(proxy.tls_port, ctx)


def _offerable(weak: str) -> bool:
    """Whether this OpenSSL can make a client offering only ``weak`` suites (recent ones
    cannot even offer EXPORT, RC4 or DES: nothing to test against the server then)."""
    try:
        client_ctx(ssl.TLSVersion.TLSv1_2, f"{weak}:@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return True


WEAK = [w for w in ("NULL", "eNULL", "aNULL", "EXPORT", "RC4", "3DES", "DES", "kRSA", "MD5",
                    "LOW") if _offerable(w)]  # fmt: skip


@pytest.mark.parametrize("weak", WEAK)
def test_weak_ciphers_refused(tls_server, weak) -> None:
    """A TLS 1.2 client offering only weak suites (null, anonymous, export, RC4, (3)DES,
    static RSA, MD5: those this OpenSSL can offer) gets no session."""
    proxy = tls_server()
    assert refused(proxy.tls_port, client_ctx(ssl.TLSVersion.TLSv1_2, f"{weak}:@SECLEVEL=0"))


def test_negotiated_tls12_cipher_is_forward_secret_aead(tls_server) -> None:
    """What a default TLS 1.2 client gets: ECDHE key exchange and an AEAD cipher."""
    proxy = tls_server()
    with connect(proxy.tls_port, client_ctx(ssl.TLSVersion.TLSv1_2, "DEFAULT")) as tls:
        name = tls.cipher()[0]
    assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name


def test_full_chain_presented_and_any_sni_served(tls_server, pki) -> None:
    """The intermediate of tls_certificate goes out with the leaf: a client that trusts
    only the root verifies it. One certificate for every SNI name, and for none."""
    proxy = tls_server()
    ctx = client_ctx(cafile=str(pki / "root.pem"), ciphers="DEFAULT")
    for name in (None, "sip.example.com", "127.0.0.1"):
        with connect(proxy.tls_port, ctx, server_name=name) as tls:
            assert len(tls.getpeercert(binary_form=False) or {}) > 0
            assert options_ok(tls, f"sni{name}")


def test_require_certificate(tls_server, pki) -> None:
    """tls_require_certificate: no client certificate, or one from a stranger CA, is
    refused; one signed by a tls_ca_list CA (via the intermediate) is served."""
    proxy = tls_server(tls_ca_list=str(pki / "cas.pem"), tls_require_certificate=True)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert refused(proxy.tls_port, client_ctx(version, "DEFAULT"))
        stranger = client_ctx(version, "DEFAULT")
        stranger.load_cert_chain(pki / "stranger.pem", pki / "stranger.key")
        assert refused(proxy.tls_port, stranger)
        good = client_ctx(version, "DEFAULT")
        good.load_cert_chain(pki / "client.pem", pki / "client.key")
        with connect(proxy.tls_port, good) as tls:
            assert options_ok(tls, f"cc{version.name}")


def test_stalled_handshakes_do_not_block_others_and_time_out(tls_server) -> None:
    """Clients that never send (or never finish) a ClientHello neither delay a good
    client nor stay open past tcp_msg_data_timeout."""
    proxy = tls_server(tcp_msg_data_timeout=1.0)
    silent = [socket.create_connection(("127.0.0.1", proxy.tls_port), timeout=10)
              for _ in range(5)]  # fmt: skip
    partial = socket.create_connection(("127.0.0.1", proxy.tls_port), timeout=10)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01")  # a record header and one byte of hello
    try:
        began = time.monotonic()
        with connect(proxy.tls_port, client_ctx(ciphers="DEFAULT")) as tls:
            assert options_ok(tls, "busy")
        assert time.monotonic() - began < 2.0
        for sock in [*silent, partial]:
            assert sock.recv(16) == b""  # closed by the proxy (recv would time out)
        assert time.monotonic() - began < 8.0
    finally:
        for sock in [*silent, partial]:
            sock.close()


def test_plaintext_sip_on_tls_port_is_dropped_quietly(tls_server) -> None:
    """Plain SIP sent to the TLS port gets the connection closed, no SIP answer, and the
    proxy keeps serving a TLS client that was already connected."""
    proxy = tls_server()
    with connect(proxy.tls_port, client_ctx(ciphers="DEFAULT")) as tls:
        assert options_ok(tls, "before")
        with socket.create_connection(("127.0.0.1", proxy.tls_port), timeout=5) as plain:
            plain.sendall(OPTIONS % (b"plain", b"plain"))
            assert plain.recv(4096) == b""
        assert options_ok(tls, "after")


def test_tls_list_and_info_shapes_are_kamailios(tls_server) -> None:
    """tls.list and tls.info carry exactly the members of Kamailio 5.6's."""
    proxy = tls_server()
    with connect(proxy.tls_port, client_ctx(ciphers="DEFAULT")) as tls:
        assert options_ok(tls, "rpc")
        (entry,) = http_rpc(proxy.rpc_url, "tls.list")
        assert set(entry) == KAMAILIO_TLS_LIST_KEYS
        assert entry["src_port"] == tls.getsockname()[1]
        assert entry["state"] == "established"
        assert entry["cipher"].split()[0] == tls.cipher()[0]
        info = http_rpc(proxy.rpc_url, "tls.info")
        assert set(info) == KAMAILIO_TLS_INFO_KEYS
        assert info["opened_connections"] == 1


def _served_subject(port: int) -> str:
    """The CN of the certificate the listener presents now."""
    pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=5)
    der = ssl.PEM_cert_to_DER_cert(pem)
    return "stranger" if b"stranger" in der else "server"


def test_tls_reload_rereads_the_certificate(tls_server, pki, tmp_path) -> None:
    """tls.reload (Kamailio: re-read tls.cfg) re-reads the certificate files: a renewed
    certificate is served to new clients and Kamailio's "Ok." text is the answer; a
    mismatched pair is a fault and the old certificate stays in service."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(pki / "chain.pem", cert)
    shutil.copy(pki / "server.key", key)
    proxy = tls_server(tls_certificate=str(cert), tls_private_key=str(key))
    assert _served_subject(proxy.tls_port) == "server"
    established = connect(proxy.tls_port, client_ctx(ciphers="DEFAULT"))
    try:
        shutil.copy(pki / "stranger.pem", cert)  # the key does not match it yet
        with pytest.raises(RuntimeError, match="500"):
            http_rpc(proxy.rpc_url, "tls.reload")
        assert _served_subject(proxy.tls_port) == "server"
        shutil.copy(pki / "stranger.key", key)
        assert http_rpc(proxy.rpc_url, "tls.reload") == "Ok. TLS configuration reloaded."
        assert _served_subject(proxy.tls_port) == "stranger"
        assert options_ok(established, "kept")  # established connections carry on
    finally:
        established.close()


def test_concurrent_handshakes_complete(tls_server) -> None:
    """Twenty clients handshaking at once all get a session and an answer."""
    proxy = tls_server()
    results: list[bool] = []

    def one(i: int) -> None:
        with connect(proxy.tls_port, client_ctx(ciphers="DEFAULT")) as tls:
            results.append(options_ok(tls, f"c{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert results == [True] * 20


def test_tls_reload_reaches_every_worker() -> None:
    """With --workers N each process holds its own TLS contexts: worker 0 passes
    tls.reload on to all of them."""
    from kamtool.rpc.server.workers import _policy

    assert _policy("tls.reload") == "all"
