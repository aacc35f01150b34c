"""``kamtool tls ...``: certificates (``rootca``, ``usercert``, as kamctl/opensips-cli make
them) and the running server's TLS state (``info``, ``list``, ``reload``: Kamailio's
``tls.*`` RPC)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kamtool.cli.context import out, settings
from kamtool.cli.runtime import client

NAME = "tls"
app = typer.Typer(name=NAME, help="TLS certificates and the server's TLS connections.",
                  no_args_is_help=True)  # fmt: skip

DEFAULT_BASE = "/etc/kamailio"  # kamctl's ETCDIR
# where `kamtool serve` looks when [proxy] names no file (kamtool/proxy/config.py's example)
SERVE_FILES = {
    "certificate": "/etc/kamtool/cert.pem",
    "private_key": "/etc/kamtool/key.pem",
    "ca_list": "/etc/kamtool/ca.pem",
}

Base = Annotated[
    Path | None,
    typer.Option("--dir", help=f"Base directory ([tls] dir; default {DEFAULT_BASE}).",
                 show_default=False),
]  # fmt: skip
KeySize = Annotated[
    int | None, typer.Option("--key-size", help="RSA key bits ([tls] key_size; 4096).",
                             show_default=False)
]  # fmt: skip
Digest = Annotated[
    str | None, typer.Option("--digest", help="sha256, sha384 or sha512 ([tls] digest; sha256).",
                             show_default=False)
]  # fmt: skip
Days = Annotated[
    int | None, typer.Option("--days", help="Validity in days ([tls] days; 365).",
                             show_default=False)
]  # fmt: skip
Country = Annotated[str | None, typer.Option("--country", "-C", help="Subject C (two letters).")]
State = Annotated[str | None, typer.Option("--state", "-S", help="Subject ST.")]
Locality = Annotated[str | None, typer.Option("--locality", "-L", help="Subject L.")]
Org = Annotated[str | None, typer.Option("--org", "-O", help="Subject O.")]
Unit = Annotated[str | None, typer.Option("--unit", help="Subject OU.")]
Email = Annotated[str | None, typer.Option("--email", help="Subject emailAddress.")]
Force = Annotated[bool, typer.Option("--force", help="Replace existing files.")]


@app.callback()
def _group() -> None:
    """TLS certificates and the server's TLS connections."""


def _spec(cn: str, flags: dict[str, Any], alt_names: list[str] | None = None):
    """A CertSpec from flags, then ``[tls]`` of kamtool.toml, then kamctl's defaults."""
    from kamtool.core.certs import CertSpec

    conf = settings().section("tls")
    subject = {}
    for key in ("country", "state", "locality", "organisation", "unit", "email"):
        value = flags.get(key) or conf.get(key)
        if value:
            subject[key] = str(value)
    subject["common_name"] = cn
    return CertSpec(
        subject=subject,
        key_size=int(flags.get("key_size") or conf.get("key_size", 4096)),
        digest=str(flags.get("digest") or conf.get("digest", "sha256")),
        days=int(flags.get("days") or conf.get("days", 365)),
        alt_names=tuple(alt_names or ()),
    )


def _base(base: Path | None) -> Path:
    return base or Path(settings().section("tls").get("dir", DEFAULT_BASE))


@app.command("rootca")
def rootca(
    base: Base = None, common_name: Annotated[
        str, typer.Option("--cn", help="The CA's common name.")] = "kamtool root CA",
    key_size: KeySize = None, digest: Digest = None, days: Days = None,
    country: Country = None, state: State = None, locality: Locality = None,
    org: Org = None, unit: Unit = None, email: Email = None, force: Force = False,
) -> None:  # fmt: skip
    """Create a CA: DIR/CA/cacert.pem and DIR/CA/private/cakey.pem (kamctl tls rootCA)."""
    from kamtool.core.certs import make_root_ca

    flags = dict(key_size=key_size, digest=digest, days=days, country=country, state=state,
                 locality=locality, organisation=org, unit=unit, email=email)  # fmt: skip
    result = make_root_ca(_base(base), _spec(common_name, flags), force=force)
    out().done(f"CA {result['subject']} in {result['certificate']}", result)


@app.command("usercert")
def usercert(
    name: Annotated[str, typer.Argument(help="Name of the certificate (its directory and files).")],
    base: Base = None,
    common_name: Annotated[
        str | None, typer.Option("--cn", help="Common name (default NAME).", show_default=False)
    ] = None,
    alt_names: Annotated[
        list[str] | None,
        typer.Option("--san", help="Subject alternative name: host name or IP (repeatable; "
                     "default the common name).", show_default=False),
    ] = None,
    key_size: KeySize = None, digest: Digest = None, days: Days = None,
    country: Country = None, state: State = None, locality: Locality = None,
    org: Org = None, unit: Unit = None, email: Email = None, force: Force = False,
    for_serve: Annotated[
        bool, typer.Option("--serve", help="Also copy them to [proxy] tls_certificate, "
                           "tls_private_key and tls_ca_list (kamtool serve's files).")
    ] = False,
    tls_cfg: Annotated[
        bool, typer.Option("--tls-cfg", help="Print the tls.cfg profile for Kamailio.")
    ] = False,
) -> None:  # fmt: skip
    """A key and a certificate signed by the CA, for a server or a client (kamctl tls userCERT).

    Written to DIR/NAME/: NAME-cert.pem, NAME-privkey.pem and NAME-calist.pem.
    """
    from kamtool.core import certs

    cn = common_name or name
    flags = dict(key_size=key_size, digest=digest, days=days, country=country, state=state,
                 locality=locality, organisation=org, unit=unit, email=email)  # fmt: skip
    result = certs.make_user_cert(_base(base), name, _spec(cn, flags, alt_names or [cn]),
                                  force=force)  # fmt: skip
    if for_serve:
        proxy = settings().section("proxy")
        targets = {role: str(proxy.get(f"tls_{role}", path))
                   for role, path in SERVE_FILES.items()}  # fmt: skip
        result["serve"] = certs.install(result, targets)
    if tls_cfg and not out().json_mode:
        print(certs.kamailio_tls_cfg(result), end="")
    out().done(f"certificate {result['subject']} in {result['certificate']}", result)


# --------------------------------------------------------------------------- run time


@app.command("info")
def info() -> None:
    """TLS connection counts of the server (tls.info)."""
    with client() as rpc:
        out().record(dict(rpc.call("tls.info")))


@app.command("list")
def list_() -> None:
    """The server's TLS connections (tls.list)."""
    from kamtool.core.runtime.server import tls_connections

    with client() as rpc:
        out().table(tls_connections(rpc), empty="no TLS connection")


@app.command("reload")
def reload() -> None:
    """Re-read tls.cfg and the certificates (tls.reload)."""
    with client() as rpc:
        answer = rpc.call("tls.reload")
    out().done(
        f"tls reloaded{': ' + str(answer) if answer else ''}", {"ok": True, "answer": answer}
    )
