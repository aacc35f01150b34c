"""JSON-RPC over datagrams: Kamailio's unix datagram socket (jsonrpcs ``dgram_socket``)
and UDP; replies matched by id, read whole, possibly in several datagrams."""

from __future__ import annotations

import errno
import json
import os
import select
import shutil
import socket
import tempfile
import threading
import weakref
from typing import Any

from kamtool.errors import BadInput, OperationTimeout
from kamtool.rpc import transport_base as base
from kamtool.rpc.protocol import encode
from kamtool.rpc.transport_base import DGRAM_MAX_REQUEST, EndpointUnreachable

__all__ = ["UdpTransport", "UnixDgramTransport"]

# --------------------------------------------------------------------------- datagrams


class _DatagramTransport:
    """Shared logic of the unix and UDP datagram transports: one socket per transport,
    one call at a time (a lock), replies matched by id so a late answer to an earlier,
    timed-out call is never taken for the current one."""

    url: str

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def _open(self) -> socket.socket:  # pragma: no cover - overridden
        raise NotImplementedError

    def _address(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def exchange(self, request: dict[str, Any], deadline: float) -> bytes:
        payload = encode(request)
        if len(payload) > DGRAM_MAX_REQUEST:  # Kamailio would read a cut, invalid request
            raise BadInput(
                f"the request is too large for a datagram ({len(payload)} bytes, "
                f"at most {DGRAM_MAX_REQUEST})",
                hint="use the HTTP endpoint for large parameters",
            )
        with self._lock:
            if self._sock is None:
                self._sock = self._open()
            sock = self._sock
            try:
                sock.sendto(payload, self._address())
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise EndpointUnreachable(
                    f"nothing listens at {self.url} ({exc.strerror})", url=self.url
                ) from None
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    raise BadInput(
                        f"the request is too large for a datagram ({len(payload)} B)"
                    ) from None
                if exc.errno == errno.EPROTOTYPE:  # a stream socket: kamcmd's, not ours
                    raise EndpointUnreachable(
                        f"{self.url} is a stream socket, not a JSON-RPC datagram socket",
                        hint="kamcmd's ctl socket (kamailio_ctl) speaks BINRPC; kamtool "
                        "speaks JSON-RPC: use jsonrpcs' socket (kamailio_rpc.sock), its FIFO "
                        "(fifo:/run/kamailio/kamailio_rpc.fifo) or HTTP (http://HOST:PORT/RPC)",
                        url=self.url,
                    ) from None
                raise EndpointUnreachable(
                    f"cannot send to {self.url}: {exc.strerror}", url=self.url
                ) from None
            try:
                return self._receive(sock, request.get("id"), deadline)
            except OperationTimeout:
                # A late answer (or part of one) may still arrive: start afresh next time.
                self._reset()
                raise

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _receive(self, sock: socket.socket, req_id: Any, deadline: float) -> bytes:
        parts: list[bytes] = []
        while True:
            left = base.remaining(deadline)
            if left <= 0:
                raise base.timeout_error(
                    self.url,
                    "the server may be hung, or the answer too big: Kamailio sends each "
                    "answer as one datagram and drops answers above ~128 KiB (its log says "
                    "'Message too long'): use HTTP or the FIFO for big answers"
                    if not parts
                    else None,
                )
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                continue
            try:
                data = _recv_whole(sock)
            except ConnectionRefusedError:
                raise EndpointUnreachable(f"nothing listens at {self.url}", url=self.url) from None
            except BlockingIOError:
                continue
            parts.append(data)
            whole = b"".join(parts) if len(parts) > 1 else data
            if not whole.rstrip().endswith(b"}"):
                continue  # a reply split over several datagrams: wait for the rest
            try:
                doc = json.loads(whole)
            except (UnicodeDecodeError, json.JSONDecodeError):
                if len(parts) == 1 and not data.lstrip().startswith(b"{"):
                    return data  # not JSON at all: let the protocol layer report it
                continue
            if isinstance(doc, dict) and "id" in doc and doc["id"] != req_id:
                parts.clear()  # a late reply to an earlier call: drop it
                continue
            return whole

    def close(self) -> None:
        with self._lock:
            self._reset()


def _recv_whole(sock: socket.socket) -> bytes:
    """One datagram, whatever its size (peek its length first, then read it)."""
    probe = bytearray(1)
    size = sock.recv_into(probe, 1, socket.MSG_PEEK | socket.MSG_TRUNC | socket.MSG_DONTWAIT)
    return sock.recv(max(size, 1), socket.MSG_DONTWAIT)


class UnixDgramTransport(_DatagramTransport):
    """jsonrpcs' unix datagram socket; our reply socket lives in a private directory."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.url = f"unix:{path}"
        self._dir: str | None = None
        self._cleanup: weakref.finalize | None = None

    def _address(self) -> str:
        return self.path

    def _open(self) -> socket.socket:
        if not os.path.exists(self.path):
            raise EndpointUnreachable(f"no socket at {self.path}", url=self.url)
        self._dir = tempfile.mkdtemp(prefix="kamtool-rpc-")
        # removed on close(), else when the transport is collected or the process exits:
        # a client nobody closed left one directory in /tmp per process
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(os.path.join(self._dir, "reply.sock"))
            if base.grant_to_server(self.path, self._dir, os.path.join(self._dir, "reply.sock")):
                pass  # root, the server another user: directory and socket are now its
            elif not base.peer_is_us(self.path):
                # The server (another user) must reach our socket: directory searchable
                # but not listable (its name is random), socket writable.
                os.chmod(self._dir, 0o711)
                os.chmod(os.path.join(self._dir, "reply.sock"), 0o622)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, base.RCVBUF)
            except OSError:
                pass
        except OSError:
            sock.close()
            self._remove_dir()
            raise
        return sock

    def _reset(self) -> None:
        super()._reset()
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self._cleanup is not None:
            self._cleanup()  # runs once: rmtree of the directory
            self._cleanup = None
        self._dir = None


class UdpTransport(_DatagramTransport):
    """jsonrpcs' datagram transport on a UDP address (``dgram_socket = "udp:IP:PORT"``)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.url = f"udp:{host}:{port}"
        self._addr: Any = None

    def _address(self) -> Any:
        return self._addr

    def _open(self) -> socket.socket:
        try:
            info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise EndpointUnreachable(f"cannot resolve {self.host}: {exc}", url=self.url) from None
        family, _, _, _, self._addr = info
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, base.RCVBUF)
        except OSError:
            pass
        # Not connect()ed: jsonrpcs answers from another socket (another port) than the
        # one it receives on. So a dead UDP endpoint can only time out.
        sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
        return sock
