"""JSON-RPC through Kamailio's FIFO (jsonrpcs ``fifo_name``), as kamctl talks to it: one
private reply FIFO per call in jsonrpcs' ``fifo_reply_dir``."""

from __future__ import annotations

import errno
import os
import secrets
import select
import stat
import threading
from typing import Any

from kamtool.errors import BadInput, RpcUnavailable
from kamtool.rpc import transport_base as base
from kamtool.rpc.protocol import encode
from kamtool.rpc.transport_base import DEFAULT_FIFO_REPLY_DIR, FIFO_MAX_REQUEST, EndpointUnreachable

__all__ = ["FifoTransport"]

# --------------------------------------------------------------------------- FIFO


class FifoTransport:
    """JSON-RPC through Kamailio's FIFO (how kamctl talks to it).

    One reply FIFO per call, created in ``reply_dir`` (jsonrpcs' ``fifo_reply_dir``).
    """

    def __init__(self, path: str, *, reply_dir: str = DEFAULT_FIFO_REPLY_DIR) -> None:
        self.path = path
        self.reply_dir = reply_dir
        self.url = f"fifo:{path}"
        # Writes above PIPE_BUF (4 KiB) are not atomic: our threads take turns writing.
        self._send_lock = threading.Lock()

    def exchange(self, request: dict[str, Any], deadline: float) -> bytes:
        # Kamailio takes only [A-Za-z0-9_-] style names here (no '.' or '/').
        name = f"kamtool_{os.getpid()}_{secrets.token_hex(8)}"
        reply_path = os.path.join(self.reply_dir, name)
        try:
            os.mkfifo(reply_path, 0o600)
        except OSError as exc:
            raise RpcUnavailable(
                f"cannot create a reply FIFO in {self.reply_dir}: {exc.strerror}",
                hint="the reply directory must be writable (jsonrpcs' fifo_reply_dir, "
                "set with fifo:/path?reply_dir=/dir)",
                url=self.url,
            ) from None
        rfd = -1
        try:
            self._grant(reply_path)
            # Open our end first (non-blocking), so the server's non-blocking open succeeds.
            rfd = os.open(reply_path, os.O_RDONLY | os.O_NONBLOCK)
            try:
                import fcntl

                fcntl.fcntl(rfd, base.F_SETPIPE_SZ, base.READ_CHUNK)
            except OSError:
                pass
            payload = _fifo_encode(dict(request, reply_name=name)) + b"\n"
            if len(payload) > FIFO_MAX_REQUEST:
                # Kamailio reads at most 8 KiB, then parses the rest of a longer request
                # as the next one: its FIFO stays wedged until a stray '}' line arrives.
                raise BadInput(
                    f"the request is too large for Kamailio's FIFO ({len(payload)} bytes, "
                    f"at most {FIFO_MAX_REQUEST})",
                    hint="use the HTTP endpoint for large parameters",
                )
            with self._send_lock:
                self._send(payload, deadline)
            return self._receive(rfd, deadline)
        finally:
            if rfd >= 0:
                os.close(rfd)
            try:
                os.unlink(reply_path)
            except OSError:
                pass

    def _grant(self, reply_path: str) -> None:
        """Let a server running as another user write (never read) our reply FIFO."""
        if base.grant_to_server(self.path, reply_path):
            return  # root, the server another user: the FIFO is now that user's (0600)
        if base.peer_is_us(self.path):
            return
        try:
            os.chown(reply_path, -1, os.stat(self.path).st_gid)
            os.chmod(reply_path, 0o620)
        except OSError:
            os.chmod(reply_path, 0o622)

    def _send(self, payload: bytes, deadline: float) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise EndpointUnreachable(f"no FIFO at {self.path}", url=self.url) from None
        except OSError as exc:
            raise EndpointUnreachable(
                f"cannot use {self.path}: {exc.strerror}", url=self.url
            ) from None
        if not stat.S_ISFIFO(st.st_mode):
            raise EndpointUnreachable(f"{self.path} is not a FIFO", url=self.url)
        try:
            wfd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise EndpointUnreachable(
                    f"nobody reads {self.path} (the server is not running)", url=self.url
                ) from None
            hint = "add your user to the server's group" if exc.errno == errno.EACCES else None
            raise EndpointUnreachable(
                f"cannot open {self.path}: {exc.strerror}", hint=hint, url=self.url
            ) from None
        try:
            view = memoryview(payload)
            poller = select.poll()
            poller.register(wfd, select.POLLOUT)
            while view:
                try:
                    n = os.write(wfd, view)
                    view = view[n:]
                    continue
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    raise EndpointUnreachable(
                        f"{self.path} was closed by the server", url=self.url
                    ) from None
                left = base.remaining(deadline)
                if left <= 0:
                    raise base.timeout_error(self.url, "the server does not read its FIFO")
                poller.poll(left * 1000)
        finally:
            os.close(wfd)

    def _receive(self, rfd: int, deadline: float) -> bytes:
        poller = select.poll()
        poller.register(rfd, select.POLLIN)
        chunks: list[bytes] = []
        while True:
            left = base.remaining(deadline)
            if left <= 0:
                raise base.timeout_error(
                    self.url,
                    "the server may be overloaded or hung; Kamailio also leaves requests it "
                    "cannot parse or execute unanswered: look at its log"
                    if not chunks
                    else None,
                )
            if not poller.poll(left * 1000):
                continue
            try:
                data = os.read(rfd, base.READ_CHUNK)
            except BlockingIOError:
                continue
            if data:
                chunks.append(data)
                continue
            # EOF: the writer closed (Linux reports no hang-up before a writer came).
            if not chunks:
                raise RpcUnavailable(f"{self.url} closed the reply FIFO without answering")
            return b"".join(chunks)

    def close(self) -> None:
        pass


def _fifo_encode(request: dict[str, Any]) -> bytes:
    """JSON for Kamailio's FIFO reader, which counts braces to find the end of a request.

    Its quote tracking takes ``\\"`` for an escaped quote, so a string ending in a
    backslash (``"a\\\\"``) would leave it "inside a string" and swallow every later
    request. Writing backslashes as ``\\u005c`` keeps the text valid and unambiguous.
    """
    return encode(request).replace(b"\\\\", b"\\u005c")
