"""SIP probes for kamtool's provisioning test cfg (tests/support/kamailio-provisioning.cfg):
an OPTIONS with an ``X-Probe`` header that the cfg answers with what a module found."""

from __future__ import annotations

import socket
import uuid


def probe(port: int, kind: str, from_user: str, to_user: str) -> tuple[int, str]:
    """An OPTIONS with ``X-Probe: kind`` to the test cfg; (status, reason) of its answer."""
    code, reason, _ = probe_answer(port, kind, from_user, to_user)
    return code, reason


def probe_answer(
    port: int,
    kind: str,
    from_user: str,
    to_user: str,
    *,
    call_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """(status, reason, the whole answer) of an ``X-Probe: kind`` OPTIONS."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        lport = sock.getsockname()[1]
        call_id = call_id or uuid.uuid4().hex
        tag = uuid.uuid4().hex
        request = (
            f"OPTIONS sip:{to_user}@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{tag[:12]};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{from_user}@127.0.0.1>;tag={tag[12:18]}\r\n"
            f"To: <sip:{to_user}@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nX-Probe: {kind}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            + "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(request.encode(), ("127.0.0.1", port))
        answer = sock.recv(65535).decode(errors="replace")
    _, code, reason = answer.split("\r\n", 1)[0].split(" ", 2)
    return int(code), reason, answer
