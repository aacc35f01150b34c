"""``kamtool sipreq METHOD URI``: any SIP request, every reply with its time; directly
through kamtool's transaction layer or through the server (tm.t_uac_wait_block)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kamtool.cli.context import out
from kamtool.cli.options import DnsServerOption, InsecureOption, TlsCaOption


def sipreq(
    method: Annotated[str, typer.Argument(help="OPTIONS, MESSAGE, REGISTER, INVITE, NOTIFY ...")],
    uri: Annotated[str, typer.Argument(
        help="Request-URI: sip:[user@]host[:port][;transport=], sips:..., or host[:port].")],
    from_uri: Annotated[str | None, typer.Option(
        "--from", help="From URI (default sip:USER@host).", show_default=False)] = None,
    to_uri: Annotated[str | None, typer.Option(
        "--to", help="To URI (default the Request-URI; REGISTER: From).",
        show_default=False)] = None,
    headers: Annotated[list[str] | None, typer.Option(
        "--header", "-H", help="Extra header 'Name: value' (repeatable).",
        show_default=False)] = None,
    body_file: Annotated[Path | None, typer.Option(
        "--body-file", "-b", help="The body, from a file ('-': stdin).",
        show_default=False)] = None,
    content_type: Annotated[str | None, typer.Option(
        "--content-type", help="Content-Type of the body (default: application/sdp for "
        "SDP, else text/plain).", show_default=False)] = None,
    transport: Annotated[str | None, typer.Option(
        "--transport", "-t", help="udp, tcp or tls (default: the URI's, else RFC 3263).",
        show_default=False)] = None,
    source: Annotated[str | None, typer.Option(
        "--source", "-s", help="Send from this local IP[:PORT].", show_default=False)] = None,
    proxy: Annotated[str | None, typer.Option(
        "--proxy", help="Send to this host[:port] instead of the Request-URI's host.",
        show_default=False)] = None,
    user: Annotated[str | None, typer.Option(
        "--user", "-u", help="Digest user for a 401/407 (password: --password or "
        "$KAMTOOL_SIP_PASSWORD).", show_default=False)] = None,
    password: Annotated[str | None, typer.Option(
        "--password", "-p", envvar="KAMTOOL_SIP_PASSWORD", show_envvar=False,
        help="Digest password.", show_default=False)] = None,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="Wait for the final answer, or only send.")] = True,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds to wait for a final answer (Timer B/F).", min=0.1)] = 5.0,
    ca: TlsCaOption = None,
    insecure: InsecureOption = False,
    dns_server: DnsServerOption = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Print every message sent and received in full.")] = False,
    server: Annotated[bool, typer.Option(
        "--server", help="Have the server send it (tm.t_uac_wait_block over JSON-RPC): "
        "final answer only.")] = False,
) -> None:  # fmt: skip
    """Send any SIP request and print every reply with its time.

    Exit 0 on any final answer (scripts read `status` in --json), 10 when none comes in
    time, 11 when the peer refuses or is unreachable. A 2xx to an INVITE is acknowledged
    and the call ended with a BYE at once.
    """
    from kamtool.core import sipreq as core
    from kamtool.errors import BadInput

    spec = core.RequestSpec(
        method=method, uri=uri, from_uri=from_uri, to_uri=to_uri,
        headers=[_header(h) for h in headers or []], body=_body(body_file),
        content_type=content_type, transport=transport,
        source=core.parse_source(source) if source else None, proxy=proxy, user=user,
        password=password, timeout=timeout, wait=wait, tls_ca=ca,
        tls_verify=not insecure, verbose=verbose,
        dns_server=core.parse_dns_server(dns_server) if dns_server else None,
    )  # fmt: skip
    if server:
        if source or transport or ca or insecure or dns_server or not wait:
            raise BadInput("--server sends from the server: --source, --transport, --ca, "
                           "--insecure, --dns-server and --no-wait do not apply")  # fmt: skip
        from kamtool.cli.runtime import client

        with client() as rpc:
            doc = core.via_server(rpc, spec)
        if out().json_mode:
            out().json(doc)
        else:
            print(f"{doc['rtt_ms']:9.1f} ms  SIP/2.0 {doc['status']} {doc['reason']}"
                  "  (sent by the server)")  # fmt: skip
        return
    result = core.send(spec)
    if out().json_mode:
        out().json(result.to_dict())
        return
    print(f"{spec.method.upper()} {result.uri} -> {result.destination} ({result.resolved_by})")
    if not result.waited:
        print("sent; not waiting for replies (--no-wait)")
        return
    if verbose:
        _print_messages(result)
        return
    for r in result.replies:
        print(f"{r.ms:9.1f} ms  {r.status_line}  [{r.cseq}]")
    if result.retransmissions:
        print(f"{result.retransmissions} retransmissions")


def _print_messages(result) -> None:
    """Every message sent and received, in order, with its time."""
    for entry in result.trace:
        arrow = "-->" if entry["direction"] == "sent" else "<--"
        print(f"{arrow} {entry['direction']} at {entry['ms']:.1f} ms")
        print(entry["message"].rstrip("\r\n") + "\n")


def _header(text: str) -> tuple[str, str]:
    from kamtool.errors import BadInput

    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in text for c in "\r\n"):
        raise BadInput(f"header {text!r}: give 'Name: value' on one line")
    return name.strip(), value.strip()


def _body(path: Path | None) -> bytes:
    if path is None:
        return b""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        from kamtool.errors import BadInput

        raise BadInput(f"cannot read the body file {path}: {exc.strerror or exc}") from None


def register(root: typer.Typer) -> None:
    """Add ``kamtool sipreq`` to the root app."""
    root.command("sipreq")(sipreq)
