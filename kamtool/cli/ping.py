"""`kamtool ping URI`: a SIP OPTIONS and its answer (kamctl ping, which uses sipsak)."""

from __future__ import annotations

from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.options import DnsServerOption, InsecureOption, TlsCaOption


def ping(
    uri: Annotated[
        str, typer.Argument(help="sip:\\[user@]host\\[:port]\\[;transport=tcp], or host\\[:port].")
    ],
    transport: Annotated[
        str | None,
        typer.Option(
            "--transport",
            "-t",
            help="udp, tcp or tls (default: the URI's transport=, else RFC 3263).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds to wait for a final answer (Timer F).", min=0.1),
    ] = 5.0,
    source: Annotated[str | None, typer.Option(
        "--source", "-s", help="Send from this local IP[:PORT].", show_default=False)] = None,
    ca: TlsCaOption = None,
    insecure: InsecureOption = False,
    dns_server: DnsServerOption = None,
) -> None:  # fmt: skip
    """Send a SIP OPTIONS to URI; print the reply's status line and the round trip.

    Any final answer means the peer is alive (exit 0; scripts read `status` in --json).
    No answer in time exits 10, a refused or unreachable peer 11.
    """
    from kamtool.core.sipping import ping as send_ping
    from kamtool.core.sipreq import parse_dns_server, parse_source

    result = send_ping(
        uri, transport=transport, timeout=timeout, tls_ca=ca, tls_verify=not insecure,
        source=parse_source(source) if source else None,
        dns_server=parse_dns_server(dns_server) if dns_server else None,
    )  # fmt: skip
    if out().json_mode:
        out().json(result.to_dict())
        return
    extra = f", {result.retransmissions} retransmitted" if result.retransmissions else ""
    print(f"{result.status_line} from {result.destination} in {result.rtt_ms:.1f} ms{extra}")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("ping")(ping)
