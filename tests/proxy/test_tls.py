"""TLS listeners with a throwaway self-signed certificate: sipsak over TLS (a real peer),
a TLS phone reached over the connection it registered on, a TLS caller calling a UDP
user through a double Record-Route, and clear errors for missing or bad files.

SIPp here is built without TLS, so the long-lived TLS phone and caller are Python's ssl
sockets; sipsak (GnuTLS) is the independent TLS implementation."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess

import pytest

from kamtool.errors import ConfigError
from kamtool.proxy.config import Listen, ProxyConfig
from kamtool.sip.digest import answer_challenge, parse_challenge
from kamtool.sip.parser import StreamFramer
from tests.proxy.conftest import USERS, need
from tests.proxy.harness import UdpClient, explain, register, sipp_peer
from tests.support.ports import free_port
from tests.support.require import unavailable

pytestmark = pytest.mark.sipp


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """(certificate, key) PEM files of a self-signed certificate for 127.0.0.1."""
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    return make_cert(tmp_path_factory.mktemp("tls"))


def make_cert(d, name: str = "") -> tuple[str, str]:
    crt, key = d / f"cert{name}.pem", d / f"key{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(crt), str(key)


@pytest.fixture
def tls_proxy(start_proxy, cert):
    from tests.proxy.harness import low_free_port

    port, tls_port = low_free_port(), low_free_port()
    proxy = start_proxy(
        listen=(
            Listen("udp", "127.0.0.1", port),
            Listen("tcp", "127.0.0.1", port),
            Listen("tls", "127.0.0.1", tls_port),
        ),
        tls_certificate=cert[0],
        tls_private_key=cert[1],
    )
    proxy.tls_port = tls_port
    return proxy


def sipsak(*args: str) -> subprocess.CompletedProcess:
    need("sipsak")
    res = subprocess.run(["sipsak", *args], capture_output=True, timeout=30)
    res.stdout = res.stdout.decode("latin-1")  # it prints the certificate fingerprint raw
    res.stderr = res.stderr.decode("latin-1")
    return res


class TlsPhone:
    """A UA on one TLS connection to the proxy; requests built by :class:`UdpClient`."""

    def __init__(self, port: int) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        self.local = self.sock.getsockname()[1]
        self.builder = UdpClient(port)  # only its request builder is used
        self.builder.port = self.local
        self.framer = StreamFramer()

    def close(self) -> None:
        self.sock.close()
        self.builder.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS"))

    def recv(self):
        while True:
            ev = self.framer.next_event()
            if ev is not None and hasattr(ev, "headers"):
                return ev
            if ev is None:
                data = self.sock.recv(65535)
                assert data, "the proxy closed the TLS connection"
                self.framer.feed(data)

    def final(self):
        while True:
            msg = self.recv()
            if msg.status >= 200:
                return msg

    def authed(self, method: str, uri: str, user: str, wait: bool = True, **kw):
        """Send, answer the challenge, return the final response (None: not waited for)."""
        self.send(self.builder.request(method, uri, from_user=user, **kw))
        first = self.final()
        if first.status not in (401, 407):
            return first
        name = "www-authenticate" if first.status == 401 else "proxy-authenticate"
        ch = parse_challenge(first.headers.get(name))
        cred = answer_challenge(ch, cnonce="0a4f113b", method=method, uri=uri, username=user,
                                password=USERS[user])  # fmt: skip
        hdr = "Authorization" if first.status == 401 else "Proxy-Authorization"
        kw["headers"] = [*kw.get("headers", []), f"{hdr}: {cred.to_header()}"]
        kw["cseq"] = kw.get("cseq", 1) + 1
        self.send(self.builder.request(method, uri, from_user=user, **kw))
        return self.final() if wait else None


def test_sipsak_options_and_register_over_tls(tls_proxy):
    target = f"sip:127.0.0.1:{tls_proxy.tls_port}"
    res = sipsak("-s", target, "--transport=tls", "--tls-ignore-cert-failure", "-vv")
    assert res.returncode == 0 and "SIP/2.0 200 Keepalive" in res.stdout, explain(res)
    local = free_port()
    res = sipsak(
        "-U", "-C", f"sip:1001@127.0.0.1:{local}", "-s", f"sip:1001@127.0.0.1:{tls_proxy.tls_port}",
        "--transport=tls", "--tls-ignore-cert-failure", "-a", USERS["1001"], "-vv",
    )  # fmt: skip
    assert res.returncode == 0, explain(res)
    bindings = tls_proxy.call(lambda: tls_proxy.server.usrloc.lookup("1001"))
    assert bindings and all(b.socket == f"tls:127.0.0.1:{tls_proxy.tls_port}" for b in bindings)
    assert all(b.received.endswith(";transport=tls") for b in bindings)


def test_tls_phone_is_reached_over_its_own_connection(tls_proxy):
    phone = TlsPhone(tls_proxy.tls_port)
    helper = UdpClient(tls_proxy.port)
    try:
        contact = "<sip:1003@10.20.30.40:5061;transport=tls>"
        ok = phone.authed("REGISTER", "sip:127.0.0.1", "1003", to="<sip:1003@127.0.0.1>",
                          headers=[f"Contact: {contact}", "Expires: 600"])  # fmt: skip
        assert ok.status == 200
        (b,) = tls_proxy.call(lambda: tls_proxy.server.usrloc.lookup("1003"))
        assert b.received == f"sip:127.0.0.1:{phone.local};transport=tls"
        assert b.socket == f"tls:127.0.0.1:{tls_proxy.tls_port}" and b.connection_id != -1
        # 1001 sends a MESSAGE over UDP: it arrives on the phone's TLS connection
        first = helper.ask("MESSAGE", "sip:1003@127.0.0.1")
        ch = parse_challenge(first.headers.get("proxy-authenticate"))
        cred = answer_challenge(ch, cnonce="0a4f113b", method="MESSAGE", uri="sip:1003@127.0.0.1",
                                username="1001", password=USERS["1001"])  # fmt: skip
        helper.send_raw(helper.request("MESSAGE", "sip:1003@127.0.0.1", body="hi",
                        headers=[f"Proxy-Authorization: {cred.to_header()}"]))  # fmt: skip
        got = phone.recv()
        assert got.method == "MESSAGE" and got.body == b"hi"
        assert got.uri_text == b.contact
        assert got.top_via.transport == "TLS"
    finally:
        phone.close()
        helper.close()


def test_tls_caller_to_udp_callee_is_double_record_routed(tls_proxy):
    need("sipp")
    uas_port = free_port()
    register(tls_proxy.port, "1002", uas_port)
    phone = TlsPhone(tls_proxy.tls_port)
    try:
        with sipp_peer("uas_answer.xml", tls_proxy.port, uas_port):
            call_id = f"tls-call-{phone.local}@127.0.0.1"
            common = dict(to="<sip:1002@127.0.0.1>", call_id=call_id)
            contact = f"Contact: <sip:1001@127.0.0.1:{phone.local};transport=tls>"
            ok = phone.authed("INVITE", "sip:1002@127.0.0.1", "1001", headers=[contact],
                              **common)  # fmt: skip
            assert ok.status == 200
            rrs = [str(r.uri) for r in ok.record_routes]
            assert len(rrs) == 2, rrs
            # top: the UDP side the callee uses; then the TLS side the caller uses
            assert rrs[0].startswith(f"sip:127.0.0.1:{tls_proxy.port};r2=on;lr;ftag=")
            assert rrs[1].startswith(
                f"sip:127.0.0.1:{tls_proxy.tls_port};transport=tls;r2=on;lr;ftag="
            )
            routes = [f"Route: <{r}>" for r in reversed(rrs)]
            remote = str(ok.contacts[0].uri)
            to = f"<sip:1002@127.0.0.1>;tag={ok.to_tag}"
            ftag = ok.from_tag
            for method, cseq in (("ACK", 2), ("BYE", 3)):
                req = phone.builder.request(method, remote, to=to, call_id=call_id, cseq=cseq,
                                            headers=routes)  # fmt: skip
                req = req.replace(f";tag=ft{phone.builder._n}".encode(), f";tag={ftag}".encode())
                phone.send(req)
            assert phone.final().status == 200  # the BYE's 200, back over TLS
    finally:
        phone.close()
    assert tls_proxy.stat("core:rcv_requests_bye") == 1


def test_missing_or_bad_certificate_files_are_clear_errors(tmp_path, cert, proxy_db):
    from kamtool.proxy.tls import tls_contexts

    listen = (Listen("tls", "127.0.0.1", 5061),)
    with pytest.raises(ConfigError, match="tls_certificate and tls_private_key"):
        ProxyConfig(listen=listen)
    missing = ProxyConfig(listen=listen, tls_certificate=str(tmp_path / "no.pem"),
                          tls_private_key=cert[1])  # fmt: skip
    with pytest.raises(ConfigError, match="no.pem.*no such file"):
        tls_contexts(missing)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    bad = ProxyConfig(listen=listen, tls_certificate=str(junk), tls_private_key=cert[1])
    with pytest.raises(ConfigError, match="not a usable PEM certificate"):
        tls_contexts(bad)
    need_ca = ProxyConfig(listen=listen, tls_certificate=cert[0], tls_private_key=cert[1],
                          tls_require_certificate=True)  # fmt: skip
    with pytest.raises(ConfigError, match="tls_ca_list"):
        tls_contexts(need_ca)
    # and through the command line: exit status of a configuration error, one clear line
    from tests.support.cli import invoke

    res = invoke(
        "--db", proxy_db, "serve", "--listen", f"tls:127.0.0.1:{free_port()}",
        "--tls-certificate", str(junk), "--tls-private-key", cert[1], "--rpc-listen", "",
    )  # fmt: skip
    assert res.exit_code == 8
    assert "not a usable PEM certificate" in res.stderr
    assert "Traceback" not in res.stderr


def test_sips_request_uri_only_reaches_sips_contacts(tls_proxy):
    """RFC 3261 §16.5 / RFC 5630: a sips: Request-URI goes to sips contacts (over TLS)
    only; a user registered with a plain sip: contact gets 480 instead of a cleartext hop."""
    phone = TlsPhone(tls_proxy.tls_port)
    plain = UdpClient(tls_proxy.port)
    try:
        ok = phone.authed("REGISTER", "sip:127.0.0.1", "1003", to="<sip:1003@127.0.0.1>",
                          headers=["Contact: <sips:1003@10.20.30.40>", "Expires: 600"])  # fmt: skip
        assert ok.status == 200
        resp = plain.register("1002", USERS["1002"], [f"<sip:1002@127.0.0.1:{free_port()}>"])
        assert resp.status == 200
        # 1001 over TLS: MESSAGE to sips:1003 arrives on 1003's TLS connection
        caller = TlsPhone(tls_proxy.tls_port)
        try:
            caller.authed("MESSAGE", "sips:1003@127.0.0.1", "1001", wait=False, body="secure")
            got = phone.recv()
            assert got.method == "MESSAGE" and got.uri_text == "sips:1003@10.20.30.40"
            assert got.top_via.transport == "TLS" and got.body == b"secure"
            phone.send((f"SIP/2.0 200 OK\r\n{_echo(got)}Content-Length: 0\r\n\r\n").encode())
            assert caller.final().status == 200
            # sips:1002 has only a sip: contact over UDP: not reachable securely
            assert caller.authed("MESSAGE", "sips:1002@127.0.0.1", "1001", body="x").status == 480
        finally:
            caller.close()
    finally:
        phone.close()
        plain.close()


def _echo(req) -> str:
    h = req.headers
    lines = [f"Via: {v}" for v in h.get_all("via")]
    lines += [f"From: {h.get('from')}", f"To: {h.get('to')};tag=t1", f"Call-ID: {req.call_id}"]
    lines += [f"CSeq: {h.get('cseq')}"]
    return "".join(f"{line}\r\n" for line in lines)


def test_client_certificates_and_outgoing_verified_tls(start_proxy, cert, tmp_path):
    """tls_require_certificate: a client without a certificate gets no SIP at all, one with
    a certificate from tls_ca_list is served. tls_verify_certificate: the proxy opens a
    verified TLS connection to a tls contact and shows its own certificate there."""

    from tests.proxy.harness import low_free_port

    port, tls_port = low_free_port(), low_free_port()
    start_proxy(
        listen=(Listen("udp", "127.0.0.1", port), Listen("tls", "127.0.0.1", tls_port)),
        tls_certificate=cert[0], tls_private_key=cert[1], tls_ca_list=cert[0],
        tls_require_certificate=True, tls_verify_certificate=True,
    )  # fmt: skip
    options = (
        f"OPTIONS sip:127.0.0.1:{tls_port} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;"
        "branch=z9hG4bKcert\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
        "Call-ID: cert@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()

    def ask(with_cert: bool) -> bytes:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if with_cert:
            ctx.load_cert_chain(*cert)
        try:
            raw = socket.create_connection(("127.0.0.1", tls_port), timeout=5)
            with ctx.wrap_socket(raw) as s:
                s.sendall(options)
                return s.recv(65535)
        except (ssl.SSLError, ConnectionError):
            return b""

    assert ask(with_cert=False) == b""
    assert ask(with_cert=True).startswith(b"SIP/2.0 200 Keepalive")

    got = _message_to_tls_ua(port, "1002", cert, cert[0])
    assert got.startswith(b"MESSAGE sip:1002@127.0.0.1:"), got
    assert b"Via: SIP/2.0/TLS 127.0.0.1:" in got and got.endswith(b"over tls")
    # a UA whose certificate is not from tls_ca_list: the proxy does not talk to it
    got = _message_to_tls_ua(port, "1003", make_cert(tmp_path, "other"), cert[0])
    assert not got.startswith(b"MESSAGE"), got


def _message_to_tls_ua(port: int, user: str, ua_cert: tuple[str, str], proxy_ca: str) -> bytes:
    """``user`` registers (over UDP) a tls contact served by a UA with ``ua_cert`` that
    trusts ``proxy_ca`` and wants the proxy's certificate; 1001 sends it a MESSAGE;
    returns what the UA read (or the error it saw)."""
    import threading

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*ua_cert)
    server_ctx.load_verify_locations(cafile=proxy_ca)
    server_ctx.verify_mode = ssl.CERT_OPTIONAL  # checked below: the proxy must show one
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    ua_port = listener.getsockname()[1]
    got: list[bytes] = []

    def serve_one() -> None:
        try:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(10)
                shown = tls.getpeercert(binary_form=True)
                got.append(tls.recv(65535) if shown else b"no client certificate")
        except (OSError, ssl.SSLError) as exc:
            got.append(repr(exc).encode())

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    uri = f"sip:{user}@127.0.0.1"
    client = UdpClient(port)
    try:
        contact = f"<{uri}:{ua_port};transport=tls>"
        assert client.register(user, USERS[user], [contact]).status == 200
        first = client.ask("MESSAGE", uri)
        ch = parse_challenge(first.headers.get("proxy-authenticate"))
        cred = answer_challenge(ch, cnonce="0a4f113b", method="MESSAGE", uri=uri, username="1001",
                                password=USERS["1001"])  # fmt: skip
        client.send_raw(client.request("MESSAGE", uri, body="over tls",
                        headers=[f"Proxy-Authorization: {cred.to_header()}"]))  # fmt: skip
        thread.join(15)
    finally:
        client.close()
        listener.close()
    return got[0] if got else b""
