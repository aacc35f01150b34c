"""`kamtool trace`: the SIP messages of the running server, live, from its HEP feed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from kamtool.cli.context import out

DEFAULT_LISTEN = "udp:127.0.0.1:9060"  # Homer's HEP port


def trace(
    caller: Annotated[str | None, typer.Option("--caller", help="Calls from this user (From).",
                                               show_default=False)] = None,
    callee: Annotated[str | None, typer.Option("--callee", help="Calls to this user (To or "
                                               "Request-URI).", show_default=False)] = None,
    ip: Annotated[str | None, typer.Option("--ip", help="Messages from or to this IP address.",
                                           show_default=False)] = None,
    callid: Annotated[str | None, typer.Option("--callid", help="Only this Call-ID.",
                                               show_default=False)] = None,
    method: Annotated[str | None, typer.Option("--method", help="Requests of this method and "
                                               "their replies (CSeq).", show_default=False)] = None,
    pcap: Annotated[Path | None, typer.Option("--pcap", help="Also write what is shown to this "
                                              "pcap file (Wireshark, tshark).",
                                              show_default=False)] = None,
    listen: Annotated[str, typer.Option("--listen", help="Where HEP arrives: udp:IP:PORT "
                                        "(port 0: any free port).")] = DEFAULT_LISTEN,
    for_: Annotated[float | None, typer.Option("--for", help="Stop after SECONDS (default: "
                                               "Ctrl-C).", min=0.0, show_default=False)] = None,
    full: Annotated[bool, typer.Option("--full", help="Print whole messages.")] = False,
    no_rpc: Annotated[bool, typer.Option("--no-rpc", help="Do not switch the server's "
                                         "tracing on and off over JSON-RPC.")] = False,
    auth_key: Annotated[str | None, typer.Option("--auth-key", help="Drop HEP without this "
                                                 "auth key (siptrace auth_key).",
                                                 show_default=False)] = None,
) -> None:  # fmt: skip
    """Show the server's SIP messages as they happen, grouped by call (sngrep for the CLI).

    Listens for HEP (Kamailio's siptrace with hep_mode_on, kamtool's proxy with
    \\[proxy] hep), turns tracing on over JSON-RPC (siptrace.status on; kamtool's proxy is
    told where to send) and off again on exit. Each message is one line (time, \\[call],
    transport, source -> destination, first line, Call-ID); --json prints one object a
    line; --pcap writes the messages with their original addresses and times.
    """
    from kamtool.core.trace import (
        CallGroups,
        HepCollector,
        TraceFilter,
        parse_listen,
        stop_tracing,
    )
    from kamtool.errors import BadInput, KamtoolError

    if ip is not None:
        import ipaddress

        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError as exc:
            raise BadInput(f"--ip {ip!r} is not an IP address") from exc
    host, port = parse_listen(listen)
    flt = TraceFilter(caller=caller, callee=callee, ip=ip, callid=callid, method=method)
    collector = HepCollector(host, port, auth_key=auth_key)
    writer = pcap_file = None
    rpc = state = None
    sockets: frozenset[tuple[str, int]] = frozenset()
    o = out()
    try:
        if pcap is not None:
            from kamtool.core.pcap import PcapWriter

            try:
                pcap_file = pcap.open("wb")
            except OSError as exc:
                raise BadInput(f"cannot write {pcap}: {exc.strerror or exc}") from exc
            writer = PcapWriter(pcap_file)
        if not no_rpc:
            rpc, state = _switch_on(collector.uri)
            if rpc is not None:
                from kamtool.core.trace import server_sockets

                sockets = server_sockets(rpc)  # for the direction: in / out
        # always on stderr (also with --json): scripts wait for it before sending
        print(f"listening for HEP on {collector.uri}" + (
            f" for {for_:g} s" if for_ is not None else " (Ctrl-C to stop)"),
            file=sys.stderr, flush=True)  # fmt: skip
        groups = CallGroups()
        until = time.monotonic() + for_ if for_ is not None else None
        try:
            for msg in collector.messages(until):
                if not flt.matches(msg):
                    continue
                number = groups.add(msg)
                if o.json_mode:
                    line = json.dumps(msg.to_dict(number, full, sockets), ensure_ascii=False)
                else:
                    line = msg.line(number, sockets)
                    if full:
                        line += "\n" + msg.hep.payload.decode("utf-8", "replace").rstrip() + "\n"
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
                if writer is not None:
                    h = msg.hep
                    writer.write(h.payload, (h.src_ip, h.src_port), (h.dst_ip, h.dst_port),
                                 h.ts_sec, h.ts_usec, h.transport)  # fmt: skip
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a trace ends
    finally:
        if rpc is not None and state is not None:
            try:
                stop_tracing(rpc, collector.uri, state)
            except KamtoolError as exc:
                o.warn(f"could not switch tracing off: {exc}")
            rpc.close()
        collector.close()
        if pcap_file is not None:
            pcap_file.close()
    if not o.json_mode:
        rows = [c.to_dict() for c in groups.calls.values()]
        if rows:
            o.table(rows, ["call", "call_id", "first_line", "messages", "final"])
        o.info(f"{collector.received} messages received, {len(groups.calls)} calls shown"
               + (f", {collector.dropped} datagrams dropped (not HEP/SIP)"
                  if collector.dropped else "")
               + (f", {writer.count} written to {pcap}" if writer is not None else ""))  # fmt: skip


def _switch_on(uri: str):  # type: ignore[no-untyped-def]
    """The RPC client and the state to undo, or (None, None) when no server answers."""
    from kamtool.cli.context import settings
    from kamtool.core.trace import start_tracing
    from kamtool.errors import RpcError, RpcUnavailable
    from kamtool.rpc.client import client_from_settings

    rpc = client_from_settings(settings())
    try:
        return rpc, start_tracing(rpc, uri)
    except RpcUnavailable as exc:
        out().warn(f"tracing not switched on: {exc}")
    except RpcError as exc:
        out().warn(f"tracing not switched on ({exc}): is siptrace loaded?")
    rpc.close()
    return None, None


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    root.command("trace")(trace)
