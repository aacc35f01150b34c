"""Tiny SIP endpoints on loopback for the diagnose tests: a UAS that rings forever,
answers 500, or only answers OPTIONS, and a UAC that sends INVITEs."""

from __future__ import annotations

import re
import secrets
import socket
import threading


class Uas:
    """A UDP endpoint on 127.0.0.1: ``mode`` "ring" (180 to INVITE, nothing more), "fail"
    (500 to INVITE) or "options" (only 200 to OPTIONS); always 200 to OPTIONS."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.uri = f"sip:uas@127.0.0.1:{self.port}"
        self.invites = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            text = data.decode("utf-8", "replace")
            method = text.split(" ", 1)[0]
            if method == "OPTIONS":
                self._reply(text, peer, "200 OK")
            elif method == "INVITE":
                self.invites += 1
                if self.mode == "ring":
                    self._reply(text, peer, "180 Ringing")
                elif self.mode == "fail":
                    self._reply(text, peer, "500 Server Error")

    def _reply(self, request: str, peer: tuple[str, int], status: str) -> None:
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [h for h in head[1:] if re.match(r"(?i)(via|from|call-id|cseq|to)\s*:", h)]
        keep = [h + (f";tag={secrets.token_hex(4)}" if h.lower().startswith("to:")
                     and ";tag=" not in h else "") for h in keep]  # fmt: skip
        msg = f"SIP/2.0 {status}\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
        try:
            self.sock.sendto(msg.encode(), peer)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def __enter__(self) -> Uas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def send_invite(port: int, ruri: str, *, wait_final: bool = False) -> int | None:
    """Send one INVITE from 127.0.0.1 to the server; the first reply's code (with
    ``wait_final``: the final one, ACKed), or None when nothing came in 3 s."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    me = sock.getsockname()[1]
    tag, call_id, branch = secrets.token_hex(4), secrets.token_hex(8), secrets.token_hex(6)
    via = f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{branch};rport"
    common = (f"{via}\r\nMax-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag={tag}\r\n"
              f"To: <{ruri}>\r\nCall-ID: {call_id}\r\n")  # fmt: skip
    invite = (f"INVITE {ruri} SIP/2.0\r\n{common}CSeq: 1 INVITE\r\n"
              f"Contact: <sip:peer@127.0.0.1:{me}>\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    try:
        sock.sendto(invite.encode(), ("127.0.0.1", port))
        while True:
            try:
                reply = sock.recv(65535).decode("utf-8", "replace")
            except TimeoutError:
                return None
            code = int(reply.split(" ", 2)[1])
            if not wait_final or code >= 200:
                break
        if code >= 300:
            to = next(h for h in reply.split("\r\n") if h.lower().startswith("to:"))
            ack = (f"ACK {ruri} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\n"
                   f"From: <sip:peer@127.0.0.1>;tag={tag}\r\n{to}\r\nCall-ID: {call_id}\r\n"
                   "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
            sock.sendto(ack.encode(), ("127.0.0.1", port))
        return code
    finally:
        sock.close()
