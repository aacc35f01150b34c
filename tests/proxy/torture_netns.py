"""Send every RFC 4475/5118 torture message to a running proxy and record the answers.

Run inside a private network namespace (``unshare -n``, loopback up): several messages ask
a proxy to reply to broadcast or foreign addresses, and nothing may leave the machine.
Usage: ``python -m tests.proxy.torture_netns OUT.json`` (see test_torture.py).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import tempfile
from pathlib import Path

from tests.proxy.harness import RunningProxy, make_config
from tests.sip.torture import corpus

PORT = 5060  # the torture messages' Vias and URIs assume the default port
PROXY_IP = "127.0.0.2"  # replies go to the sender's IP and Via port 5060: our client socket


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def main(out: str) -> None:
    errors = Errors()
    logging.getLogger("kamtool").addHandler(errors)
    db = "sqlite:///" + tempfile.mkdtemp() + "/k.sqlite"
    cfg = make_config(db, port=PORT, domain="example.com")
    cfg = cfg.with_changes(listen=tuple(x.__class__(x.proto, PROXY_IP, PORT) for x in cfg.listen))
    proxy = RunningProxy(cfg).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", PORT))
    sock.settimeout(0.05)  # replies on loopback take well under 1 ms
    sent: dict[str, bytes] = {}
    replies: list[bytes] = []
    try:
        for name, data in corpus().items():
            sock.sendto(data, (PROXY_IP, PORT))
            sent[name] = data
            while True:  # replies (and retransmissions of earlier ones) until quiet
                try:
                    replies.append(sock.recv(65535))
                except OSError:
                    break
        keepalive = (
            b"OPTIONS sip:127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-k\r\n"
            b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: k@x\r\n"
            b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(keepalive, (PROXY_IP, PORT))
        alive = sock.recv(65535).split(b"\r\n", 1)[0].decode()
    finally:
        proxy.stop()
    results = {name: [] for name in sent}
    for reply in replies:  # attribute each reply to the message with its Call-ID
        cid = call_id(reply)
        for name, data in sent.items():
            if call_id(data) == cid:  # insuf has no Call-ID at all: matched as None
                text = reply.decode("utf-8", "replace")
                if text not in results[name]:
                    results[name].append(text)
                break
    Path(out).write_text(json.dumps({"results": results, "alive": alive,
                                     "errors": errors.records}))  # fmt: skip


def call_id(data: bytes) -> bytes | None:
    m = re.search(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", data, re.I)
    return m.group(1).strip() if m else None


if __name__ == "__main__":
    main(sys.argv[1])
