"""A real Kamailio 5.6 with the dispatcher module on a list file, for comparing kamtool's
dispatcher engine with Kamailio's selection (tests/support/kamailio-dispatcher.cfg)::

    with DispatcherKamailio(tmp_path, rows) as k:   # rows: (set, uri, flags, prio, attrs)
        k.select(1, 4, call_id="x")                 # (status, $du, failover, branches)
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

from tests.support.ports import free_port
from tests.support.server_process import ServerProcess

CONFIG = Path(__file__).with_name("kamailio-dispatcher.cfg")

Row = tuple[int, str, int, int, str]


def list_file_text(rows: list[Row]) -> str:
    """The dispatcher list file: ``setid destination flags priority attrs`` per line."""
    return "".join(f"{s} {uri} {flags} {prio} {attrs or ''}".rstrip() + "\n"
                   for s, uri, flags, prio, attrs in rows)  # fmt: skip


class DispatcherKamailio(ServerProcess):
    """Kamailio with the dispatcher test cfg; :meth:`select` asks it to choose."""

    name = "kamailio"

    def __init__(
        self, base_dir: Path, rows: list[Row], *, flags: int = 2, use_default: bool = False,
        ping_interval: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(base_dir)
        self.rows, self.flags, self.use_default = rows, flags, use_default
        self.ping_interval = ping_interval
        self.sock: socket.socket | None = None

    @property
    def list_file(self) -> Path:
        return self.dir / "dispatcher.list"

    def write_rows(self, rows: list[Row]) -> None:
        """Replace the list file (then ``dispatcher.reload``)."""
        self.rows = rows
        self.list_file.write_text(list_file_text(rows))

    def start(self) -> DispatcherKamailio:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.write_rows(self.rows)
        self.sip_port, self.http_port = free_port(), free_port()
        args = [
            "kamailio", "-f", str(CONFIG), "-m", "32", "-M", "8",
            "-Y", str(self.run_dir), "-w", str(self.run_dir),
            "-P", str(self.run_dir / "kamailio.pid"),
            "-A", f"SIP_PORT={self.sip_port}", "-A", f"HTTP_PORT={self.http_port}",
            "-A", f'DSLIST="{self.list_file}"', "-A", f"DSFLAGS={self.flags}",
            "-A", f"USE_DEFAULT={int(self.use_default)}",
            "-A", f"PING_INTERVAL={self.ping_interval}",
        ]  # fmt: skip
        self._spawn([*args, "-DD", "-E"])
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        return self

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        super().stop()

    def request(
        self, method: str, headers: dict[str, str], *, call_id: str | None = None,
        from_uri: str = "sip:caller@127.0.0.1", to_uri: str = "sip:callee@127.0.0.1",
        ruri: str = "sip:callee@127.0.0.1",
    ) -> tuple[int, str, dict[str, str]]:  # fmt: skip
        """Send one request; (status, reason, the answer's headers by lower-case name)."""
        assert self.sock is not None
        lport = self.sock.getsockname()[1]
        call_id = call_id if call_id is not None else uuid.uuid4().hex
        branch = uuid.uuid4().hex[:16]
        text = (
            f"{method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <{from_uri}>;tag={branch[:6]}\r\nTo: <{to_uri}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "Content-Length: 0\r\n\r\n"
        )
        return self.send_text(text, branch)

    def send_text(self, text: str, branch: str) -> tuple[int, str, dict[str, str]]:
        """Send a request as written (its Via branch ``z9hG4bK`` + ``branch``) and read
        its answer."""
        assert self.sock is not None
        self.sock.sendto(text.encode(), ("127.0.0.1", self.sip_port))
        while True:  # skip a late answer to an earlier request
            answer = self.sock.recv(65535).decode(errors="replace")
            if f"branch=z9hG4bK{branch}" in answer:
                break
        head = answer.split("\r\n\r\n", 1)[0].split("\r\n")
        _, code, reason = head[0].split(" ", 2)
        fields: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return int(code), reason, fields

    def select(
        self, set_id: int, alg: int, *, method: str = "OPTIONS", limit: int | None = None,
        next_count: int = 0, extra: dict[str, str] | None = None, **request: str,
    ) -> tuple[int, str, list[str], list[str]]:  # fmt: skip
        """``ds_select_dst(set_id, alg[, limit])`` on Kamailio: (status, $du, the failover
        URIs, the branch URIs); with ``next_count``, $du after that many ds_next_dst()."""
        headers = {"X-Ds-Set": str(set_id), "X-Ds-Alg": str(alg), **(extra or {})}
        if limit is not None:
            headers["X-Ds-Limit"] = str(limit)
        if next_count:
            headers["X-Ds-Next"] = str(next_count)
        code, reason, fields = self.request(method, headers, **request)
        failover = fields.get("x-failover", "").split()
        branches = fields.get("x-branches", "").split()
        return code, reason, failover, branches
