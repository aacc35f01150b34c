"""A minimal UDP REGISTER client with digest auth, for checking rows against a real Kamailio.

It computes the digest response itself (RFC 2617 without qop, as the reference cfg
challenges), independently of kamtool's code, and returns the final status code.
"""

from __future__ import annotations

import hashlib
import re
import socket
import uuid


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _request(
    port: int, lport: int, user: str, domain: str, cseq: int, call_id: str, auth: str = ""
) -> bytes:
    lines = [
        f"REGISTER sip:{domain} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{uuid.uuid4().hex};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{domain}>;tag={call_id[:8]}",
        f"To: <sip:{user}@{domain}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@127.0.0.1:{lport}>",
        "Expires: 60",
    ]
    if auth:
        lines.append(auth)
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def _status(sock: socket.socket) -> tuple[int, str]:
    while True:
        data = sock.recv(65535).decode(errors="replace")
        code = int(data.split(" ", 2)[1])
        if code >= 200:  # skip 100 Trying
            return code, data


def register(
    port: int,
    user: str,
    password: str,
    *,
    domain: str = "127.0.0.1",
    auth_username: str | None = None,
    timeout: float = 5.0,
) -> int:
    """REGISTER ``user@domain`` at 127.0.0.1:``port``; answer one challenge; return the status.

    ``auth_username`` is the ``username=`` of the credentials (default ``user``; pass
    ``user@domain`` to make Kamailio use the ``ha1b`` column).
    """
    call_id = uuid.uuid4().hex
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1", 0))
        sock.connect(("127.0.0.1", port))
        lport = sock.getsockname()[1]
        sock.send(_request(port, lport, user, domain, 1, call_id))
        code, reply = _status(sock)
        if code != 401:
            return code
        realm = re.search(r'realm="([^"]*)"', reply).group(1)
        nonce = re.search(r'nonce="([^"]*)"', reply).group(1)
        uri = f"sip:{domain}"
        name = auth_username or user
        ha1 = _md5(f"{name}:{realm}:{password}")
        response = _md5(f"{ha1}:{nonce}:{_md5(f'REGISTER:{uri}')}")
        auth = (
            f'Authorization: Digest username="{name}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{response}", algorithm=MD5'
        )
        sock.send(_request(port, lport, user, domain, 2, call_id, auth))
        return _status(sock)[0]
