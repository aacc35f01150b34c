"""A small certificate authority for SIP over TLS: ``kamtool tls rootca`` and
``kamtool tls usercert NAME``, with the semantics of ``kamctl tls rootCA|userCERT`` and
opensips-cli's ``tls rootCA|userCERT``.

Layout (kamctl's, under a base directory, by default ``/etc/kamailio``)::

    BASE/CA/cacert.pem                 the CA certificate (self-signed)
    BASE/CA/private/cakey.pem          its key (0600)
    BASE/NAME/NAME-cert.pem            a certificate signed by the CA (server and client use)
    BASE/NAME/NAME-privkey.pem         its key (0600)
    BASE/NAME/NAME-calist.pem          the CA list to verify peers with

These are the three files Kamailio's tls.cfg names (``certificate``, ``private_key``,
``ca_list``) and ``kamtool serve`` takes (``tls_certificate``, ``tls_private_key``,
``tls_ca_list``). Keys are unencrypted, as both servers need them at start without a
prompt. Subject, key size, digest and validity come from the caller (flags or the
``[tls]`` section of kamtool.toml).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kamtool.errors import AlreadyExists, BadInput, KamtoolError, NotFound

DIGESTS = ("sha256", "sha384", "sha512")
KEY_SIZES = (2048, 3072, 4096)

# subject fields: our option name -> the X.509 attribute's name in cryptography
SUBJECT_FIELDS = {
    "country": "COUNTRY_NAME",
    "state": "STATE_OR_PROVINCE_NAME",
    "locality": "LOCALITY_NAME",
    "organisation": "ORGANIZATION_NAME",
    "unit": "ORGANIZATIONAL_UNIT_NAME",
    "common_name": "COMMON_NAME",
    "email": "EMAIL_ADDRESS",
}


@dataclass
class CertSpec:
    """What a new certificate says and how it is made."""

    subject: Mapping[str, str]
    key_size: int = 4096  # opensips-cli's default
    digest: str = "sha256"
    days: int = 365
    alt_names: Sequence[str] = field(default_factory=tuple)

    def check(self) -> None:
        if self.key_size not in KEY_SIZES:
            raise BadInput(f"key size {self.key_size}: use one of {', '.join(map(str, KEY_SIZES))}")
        if self.digest not in DIGESTS:
            raise BadInput(f"digest {self.digest!r}: use one of {', '.join(DIGESTS)}")
        if self.days < 1:
            raise BadInput("the validity must be at least 1 day")
        country = self.subject.get("country")
        if country is not None and len(country) != 2:
            raise BadInput(f"country {country!r}: a two-letter code (ISO 3166), e.g. DE")
        unknown = set(self.subject) - set(SUBJECT_FIELDS)
        if unknown:
            raise BadInput(f"unknown subject fields: {', '.join(sorted(unknown))}")


def ca_paths(base: Path) -> tuple[Path, Path]:
    """(certificate, key) of the CA under ``base``."""
    return base / "CA" / "cacert.pem", base / "CA" / "private" / "cakey.pem"


def user_paths(base: Path, name: str) -> dict[str, Path]:
    """The certificate, key and CA list of ``name`` under ``base``."""
    d = base / name
    return {
        "certificate": d / f"{name}-cert.pem",
        "private_key": d / f"{name}-privkey.pem",
        "ca_list": d / f"{name}-calist.pem",
    }


def _name(subject: Mapping[str, str]):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [
        x509.NameAttribute(getattr(NameOID, SUBJECT_FIELDS[k]), v) for k, v in subject.items() if v
    ]
    if not attrs:
        raise BadInput("the certificate's subject is empty: give at least a common name")
    return x509.Name(attrs)


def _alt_name(text: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        return x509.DNSName(text)


def _new_key(size: int):
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def _hash(digest: str):
    from cryptography.hazmat.primitives import hashes

    return {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[digest]()


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a key is created 0600 from the start: never readable by others, not even briefly
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        if secret:
            os.fchmod(fd, 0o600)  # an existing file (--force) keeps its mode otherwise
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise KamtoolError(f"cannot write {path}: {exc.strerror or exc}",
                           hint="choose another directory with --dir") from None  # fmt: skip


def _refuse_existing(paths: Sequence[Path], force: bool) -> None:
    there = [str(p) for p in paths if p.exists()]
    if there and not force:
        raise AlreadyExists(f"{', '.join(there)} exists already", hint="--force replaces it")


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _summary(cert, paths: Mapping[str, Path]) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes

    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(":"),
        **{k: str(v) for k, v in paths.items()},
    }


def make_root_ca(base: Path, spec: CertSpec, *, force: bool = False) -> dict[str, Any]:
    """Create the self-signed CA certificate and key under ``base`` (kamctl tls rootCA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    spec.check()
    cert_path, key_path = ca_paths(base)
    _refuse_existing([cert_path, key_path], force)
    key = _new_key(spec.key_size)
    name = _name(spec.subject)
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # clocks of peers differ a little
        .not_valid_after(now + dt.timedelta(days=spec.days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(ski, critical=False)
        .sign(key, _hash(spec.digest))
    )
    _write(key_path, _key_pem(key), secret=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return _summary(cert, {"certificate": cert_path, "private_key": key_path})


def _load_ca(base: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = ca_paths(base)
    if not cert_path.is_file() or not key_path.is_file():
        raise NotFound(
            f"no CA under {base} ({cert_path} and {key_path})",
            hint="create it first: kamtool tls rootca",
        )
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise BadInput(f"the CA under {base} is not a PEM certificate and unencrypted key") from exc
    return cert, key


def make_user_cert(base: Path, name: str, spec: CertSpec, *, force: bool = False) -> dict[str, Any]:
    """Create NAME's key and a certificate signed by the CA under ``base`` (kamctl tls
    userCERT): usable as a server and as a client certificate, with the CA list beside."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if not name or "/" in name or name in (".", "..", "CA"):
        raise BadInput(f"{name!r} cannot name a certificate directory")
    spec.check()
    ca_cert, ca_key = _load_ca(base)
    paths = user_paths(base, name)
    _refuse_existing(list(paths.values()), force)
    key = _new_key(spec.key_size)
    now = dt.datetime.now(dt.UTC)
    not_after = min(now + dt.timedelta(days=spec.days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(spec.subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if spec.alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_alt_name(a) for a in spec.alt_names]), critical=False
        )
    cert = builder.sign(ca_key, _hash(spec.digest))
    pem = serialization.Encoding.PEM
    _write(paths["private_key"], _key_pem(key), secret=True)
    _write(paths["certificate"], cert.public_bytes(pem))
    _write(paths["ca_list"], ca_cert.public_bytes(pem))
    return _summary(cert, paths)


def install(result: Mapping[str, Any], targets: Mapping[str, str]) -> dict[str, str]:
    """Copy a user certificate's three files to ``targets`` (role -> path), e.g. the
    ``tls_certificate`` / ``tls_private_key`` / ``tls_ca_list`` of ``kamtool serve``."""
    written = {}
    for role, dest in targets.items():
        src = Path(result[role])
        _write(Path(dest), src.read_bytes(), secret=role == "private_key")
        written[role] = dest
    return written


def kamailio_tls_cfg(paths: Mapping[str, Any]) -> str:
    """The ``[server:default]`` profile of Kamailio's tls.cfg that uses these files."""
    return (
        "[server:default]\n"
        "method = TLSv1.2+\n"
        "verify_certificate = no\n"
        "require_certificate = no\n"
        f"private_key = {paths['private_key']}\n"
        f"certificate = {paths['certificate']}\n"
        f"ca_list = {paths['ca_list']}\n"
    )
