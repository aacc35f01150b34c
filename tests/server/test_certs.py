"""``kamtool tls rootca`` / ``tls usercert``: the files kamctl's layout names, checked with
openssl, refused when they exist, and used for real: ``kamtool serve`` with the generated
certificate and a TLS client that verifies it against the generated CA (Kamailio with the
same files: test_server_views.py)."""

from __future__ import annotations

import shutil
import socket
import ssl
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.server.conftest import make_pki
from tests.support.cli import invoke
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def test_kamctl_layout_and_key_permissions(pki):
    assert pki.ca == pki.base / "CA" / "cacert.pem"
    ca_key = pki.base / "CA" / "private" / "cakey.pem"
    for key in (ca_key, pki.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pki.ca_list.read_bytes() == pki.ca.read_bytes()
    assert f"certificate = {pki.cert}" in pki.tls_cfg
    assert f"private_key = {pki.key}" in pki.tls_cfg


def test_openssl_verifies_the_chain_and_reads_what_was_asked(pki):
    res = openssl("verify", "-CAfile", str(pki.ca), str(pki.cert))
    assert res.returncode == 0 and ": OK" in res.stdout
    res = openssl("rsa", "-in", str(pki.key), "-check", "-noout")
    assert res.returncode == 0, res.stderr
    ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    cert = x509.load_pem_x509_certificate(pki.cert.read_bytes())
    assert ca.subject.rfc4514_string() == "CN=kamtool test CA,O=kamtool tests,C=DE"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.issuer == ca.subject
    assert cert.public_key().key_size == 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_flags_choose_digest_key_size_and_validity(tmp_path):
    base = tmp_path / "pki"
    assert invoke("tls", "rootca", "--dir", str(base), "--key-size", "3072",
                  "--digest", "sha512", "--days", "30").exit_code == 0  # fmt: skip
    ca = x509.load_pem_x509_certificate((base / "CA" / "cacert.pem").read_bytes())
    assert ca.public_key().key_size == 3072
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA512)
    days = (ca.not_valid_after_utc - ca.not_valid_before_utc).days
    assert days == 30


def test_config_section_gives_the_defaults(tmp_path):
    conf = tmp_path / "kamtool.toml"
    conf.write_text(f'[tls]\ndir = "{tmp_path / "etc"}"\nkey_size = 2048\n'
                    'organisation = "Example Telecom"\ncountry = "FR"\n')  # fmt: skip
    r = invoke("--config", str(conf), "--json", "tls", "rootca")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.json()["subject"] == "CN=kamtool root CA,O=Example Telecom,C=FR"
    assert (tmp_path / "etc" / "CA" / "cacert.pem").is_file()


def test_refusals_with_exit_statuses(pki, tmp_path):
    r = invoke("--json", "tls", "rootca", "--dir", str(pki.base), "--key-size", "2048")
    assert r.exit_code == 4 and "--force" in r.json()["error"]["hint"]
    r = invoke("--json", "tls", "usercert", "bob", "--dir", str(tmp_path / "none"))
    assert r.exit_code == 3 and "tls rootca" in r.json()["error"]["hint"]
    r = invoke("--json", "tls", "rootca", "--dir", str(tmp_path), "--digest", "md5")
    assert r.exit_code == 2 and "sha256" in r.json()["error"]["message"]
    r = invoke("--json", "tls", "rootca", "--dir", str(tmp_path), "--key-size", "1024")
    assert r.exit_code == 2
    r = invoke("--json", "tls", "usercert", "../x", "--dir", str(pki.base))
    assert r.exit_code == 2
    assert not (tmp_path / "CA").exists()  # nothing written by the refused calls
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = invoke("--json", "tls", "rootca", "--dir", str(blocker / "pki"), "--key-size", "2048")
    assert r.exit_code == 1 and "cannot write" in r.json()["error"]["message"]


def test_serve_copies_land_where_the_config_points(pki, tmp_path):
    conf = tmp_path / "kamtool.toml"
    files = {k: tmp_path / "etc" / f"{k}.pem" for k in ("cert", "key", "ca")}
    conf.write_text(
        "[proxy]\n"
        + "".join(
            f'tls_{role} = "{files[k]}"\n'
            for role, k in (("certificate", "cert"), ("private_key", "key"), ("ca_list", "ca"))
        )
    )
    r = invoke("--config", str(conf), "--json", "tls", "usercert", "edge", "--dir",
               str(pki.base), "--key-size", "2048", "--serve")  # fmt: skip
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.json()["serve"]["certificate"] == str(files["cert"])
    assert files["ca"].read_bytes() == pki.ca.read_bytes()
    assert stat.S_IMODE(files["key"].stat().st_mode) == 0o600
    assert files["cert"].read_bytes() == (pki.base / "edge" / "edge-cert.pem").read_bytes()


def test_kamtool_serve_with_the_generated_certificate(pki, tmp_path):
    """A TLS client that verifies against the generated CA (host name included) gets an
    answer to OPTIONS from `kamtool serve` on the generated certificate; a client trusting
    another CA is refused in the handshake."""
    tls_port = free_port()
    args = ("--listen", f"tls:127.0.0.1:{tls_port}", "--tls-certificate", str(pki.cert),
            "--tls-private-key", str(pki.key), "--no-auth")  # fmt: skip
    with KamtoolProxy(tmp_path, seed=False, extra_args=args):
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:  # fmt: skip
            tls.sendall(
                b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                b"Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-certs-1\r\n"
                b"Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
                b"Call-ID: certs-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            reply = tls.recv(4096)
        assert reply.startswith(b"SIP/2.0 200 ")
        other = make_pki(tmp_path / "other")
        ctx = ssl.create_default_context(cafile=str(other.ca))
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw, \
                pytest.raises(ssl.SSLCertVerificationError):  # fmt: skip
            ctx.wrap_socket(raw, server_hostname="localhost")
