"""Small fake JSON-RPC servers for client tests: HTTP, FIFO and unix datagram.

Each answers from a ``handler(request_dict) -> (status, body_bytes) | None`` in a thread,
the way Kamailio's jsonrpcs does on that transport (HTTP status = error code, reply FIFO
named by ``reply_name`` in the reply directory, reply datagram sent from another socket).
``None`` means "do not answer". :func:`replay` answers from the reference captures.
"""

from __future__ import annotations

import json
import os
import select
import socket
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.reference import capture, capture_names


def result(name: str) -> Any:
    """The ``result`` member of capture ``name``'s reply."""
    return capture(name)["response"]["result"]


def names(prefix: str = "") -> list[str]:
    """Every capture name starting with ``prefix``."""
    return [n for n in capture_names() if n.startswith(prefix)]


Handler = Callable[[dict[str, Any]], "tuple[int, bytes] | None"]


def replay(overrides: dict[str, str] | None = None) -> Handler:
    """Answer each method with its reference capture (``<method>.json``, or ``overrides``
    mapping a method to a capture name); unknown methods get Kamailio's 500."""
    overrides = overrides or {}

    def handler(req: dict[str, Any]) -> tuple[int, bytes]:
        method = req.get("method", "")
        name = overrides.get(method)
        if name is None:
            variants = names(method + ".")
            if method in names(method):
                name = method
            else:
                name = variants[0] if variants else "error.unknown_method"
        cap = capture(name)
        doc = dict(cap["response"])
        if "id" in req:
            doc["id"] = req["id"]
        status = 200
        if "error" in doc:
            status = doc["error"]["code"]
        return status, json.dumps(doc).encode()

    return handler


# --------------------------------------------------------------------------- HTTP


class FakeHttp:
    """``http://127.0.0.1:<port>/RPC``; ``mode``: normal, ``hang`` or ``truncate``."""

    def __init__(self, handler: Handler, mode: str = "normal") -> None:
        self.handler, self.mode = handler, mode
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.release = threading.Event()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                req = json.loads(body)
                outer.requests.append((dict(self.headers), req))
                if outer.mode == "hang":
                    outer.release.wait(30)
                    return
                answer = outer.handler(req)
                if answer is None:
                    outer.release.wait(30)
                    return
                status, payload = answer
                self.send_response(status, "Reason")
                self.send_header("Content-Type", "application/json")
                extra = 1000 if outer.mode == "truncate" else 0
                self.send_header("Content-Length", str(len(payload) + extra))
                self.end_headers()
                self.wfile.write(payload)
                self.close_connection = True

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.port}/RPC"

    def __enter__(self) -> FakeHttp:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- FIFO


class FakeFifo:
    """A FIFO server like jsonrpcs': one JSON request per line, reply into
    ``reply_dir/<reply_name>``. ``reads=False`` opens the FIFO but never reads it."""

    def __init__(self, handler: Handler, directory: Path, *, reply_dir: str = "/tmp") -> None:
        self.handler = handler
        self.path = Path(directory) / "rpc.fifo"
        self.reply_dir = reply_dir
        self.requests: list[dict[str, Any]] = []
        self.reply_modes: list[int] = []
        os.mkfifo(self.path, 0o600)
        self._stop = threading.Event()
        self.url = f"fifo:{self.path}"
        if reply_dir != "/tmp":
            self.url += f"?reply_dir={reply_dir}"

    def __enter__(self) -> FakeFifo:
        self._rfd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._keep = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)  # as Kamailio does
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._rfd], [], [], 0.05)
            if not ready:
                continue
            buf += os.read(self._rfd, 65536)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                self.requests.append(req)
                answer = self.handler(req)
                if answer is None:
                    continue
                reply = os.path.join(self.reply_dir, req["reply_name"])
                self.reply_modes.append(os.stat(reply).st_mode & 0o777)
                fd = os.open(reply, os.O_WRONLY)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(answer[1])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self._rfd)
        os.close(self._keep)


# --------------------------------------------------------------------------- datagram


class FakeDgram:
    """A unix datagram server like jsonrpcs': replies go out from a second socket.

    ``split`` cuts each reply into datagrams of that many bytes (kamtool's server may);
    ``stale`` sends a reply with a wrong id first.
    """

    def __init__(self, handler: Handler, *, split: int = 0, stale: bool = False) -> None:
        self.handler, self.split, self.stale = handler, split, stale
        self.dir = tempfile.mkdtemp(prefix="fake-dgram-")
        self.path = os.path.join(self.dir, "rpc.sock")
        self.rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.rx.bind(self.path)
        self.tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:  # large single datagrams need a large send buffer (root can force it)
            self.tx.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_SNDBUFFORCE", 32), 32 << 20)
        except OSError:
            self.tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 << 20)
        self.url = f"unix:{self.path}"
        self._stop = threading.Event()

    def __enter__(self) -> FakeDgram:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.rx], [], [], 0.05)
            if not ready:
                continue
            data, addr = self.rx.recvfrom(65536)
            req = json.loads(data)
            answer = self.handler(req)
            if answer is None:
                continue
            payload = answer[1]
            if self.stale:
                wrong = dict(json.loads(payload), id="stale")
                self.tx.sendto(json.dumps(wrong).encode(), addr)
            step = self.split or len(payload)
            try:
                for i in range(0, len(payload), step):
                    self.tx.sendto(payload[i : i + step], addr)
            except OSError:
                pass  # the client went away: dropped, as jsonrpcs does

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.rx.close()
        self.tx.close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


def result_handler(result: Any) -> Handler:
    """Always answer with ``result``."""

    def handler(req: dict[str, Any]) -> tuple[int, bytes]:
        return 200, json.dumps({"jsonrpc": "2.0", "result": result, "id": req.get("id")}).encode()

    return handler
