"""Shared ``Annotated`` option types, so every command spells them the same way."""

from __future__ import annotations

from typing import Annotated

import typer

YesOption = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation (required without a terminal)."),
]
NoReloadOption = Annotated[
    bool,
    typer.Option("--no-reload", help="Do not ask the running server to reload after the change."),
]
# the SIP client commands (sipreq, ping): TLS trust and the DNS server to ask
TlsCaOption = Annotated[
    str | None,
    typer.Option(
        "--ca", help="CA file to verify a TLS server with (default: the system's).",
        show_default=False,
    ),
]  # fmt: skip
InsecureOption = Annotated[
    bool, typer.Option("--insecure", help="Do not verify the TLS server's certificate.")
]
DnsServerOption = Annotated[
    str | None,
    typer.Option(
        "--dns-server", help="DNS server IP[:PORT] for NAPTR/SRV/A (default: the system's).",
        show_default=False,
    ),
]  # fmt: skip
