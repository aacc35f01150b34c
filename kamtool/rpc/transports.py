"""How JSON-RPC requests reach the server: HTTP, FIFO, unix datagram and UDP.

Every transport has ``exchange(request, deadline) -> bytes`` (``deadline`` is a
``time.monotonic()`` value) and ``close()``. A server that cannot be reached raises
:class:`EndpointUnreachable` (a :class:`~kamtool.errors.RpcUnavailable`), one that does
not answer in time :class:`~kamtool.errors.OperationTimeout`; both name the URL. No
call blocks past its deadline.

What Kamailio 5.6's jsonrpcs imposes (measured against the real thing, see tests/rpc):

* **FIFO**: the request names a reply FIFO with ``"reply_name"``: a bare file name (no
  ``/`` or ``.``), opened inside jsonrpcs' ``fifo_reply_dir`` (default ``/tmp/``). So the
  reply FIFO cannot live in a private directory: it gets an unguessable name in that
  directory instead, is created by ``mkfifo`` (which refuses an existing name, so no
  symlink games), is readable only by us and is removed afterwards. Kamailio writes the
  whole answer and closes: the only transport that carries big answers (a 20,000 contact
  ``ul.dump`` is 18 MB) from a stock Kamailio, given enough pkg memory (``-M``).
* **unix datagram**: the reply is one datagram sent to the address we bound, from a
  socket whose send buffer Kamailio sets to 64 KiB: answers above ~128 KiB are dropped
  ("Message too long" in its log) and we can only time out. We bind in a private
  directory, read datagrams of any size whole (the size is peeked first) and also accept
  a reply split over several datagrams (kamtool's own server may do that).
* **HTTP**: the answer is bounded by Kamailio's TCP write queue (``tcp_conn_wq_max``, at
  most 1 MiB at run time) plus the socket buffer: a few MB. A cut reply is reported as such.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import select
import shutil
import socket
import stat
import tempfile
import threading
import time
from typing import Any, Protocol

from kamtool.errors import BadInput, OperationTimeout, RpcUnavailable
from kamtool.rpc.protocol import NotJsonRpc, encode

DEFAULT_FIFO_REPLY_DIR = "/tmp"
FIFO_MAX_REQUEST = 8191  # jsonrpcs' FIFO input buffer (8192 with the terminating NUL)
DGRAM_MAX_REQUEST = 65456  # jsonrpcs' datagram receive buffer
_READ_CHUNK = 1 << 20
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux): a bigger pipe means fewer wake-ups
_RCVBUF = 8 << 20


class EndpointUnreachable(RpcUnavailable):
    """Nothing listens at the URL (refused, missing FIFO/socket): try another endpoint."""


class Transport(Protocol):
    url: str

    def exchange(self, request: dict[str, Any], deadline: float) -> bytes: ...

    def close(self) -> None: ...


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _timeout(url: str, timeout_hint: str | None = None) -> OperationTimeout:
    return OperationTimeout(
        f"no reply from {url} in time",
        hint=timeout_hint
        or "the server may be overloaded or hung; raise --rpc timeout "
        "([rpc] timeout / KAMTOOL_RPC_TIMEOUT) if answers are just slow",
        url=url,
    )


def _peer_is_us(path: str) -> bool:
    """True when the server at ``path`` runs as our user (or we are root)."""
    if os.geteuid() == 0:
        return True
    try:
        return os.stat(path).st_uid == os.geteuid()
    except OSError:
        return True


# --------------------------------------------------------------------------- URLs


def _path_part(rest: str) -> tuple[str, dict[str, str]]:
    """``//host/path?x=y`` / ``/path`` -> (path, query) for fifo: and unix: URLs."""
    rest, _, query = rest.partition("?")
    if rest.startswith("//"):
        rest = rest[2:]
        if not rest.startswith("/"):  # fifo://localhost/path
            rest = "/" + rest.partition("/")[2]
    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
    return rest, params


def open_transport(url: str, *, token: str | None = None) -> Transport:
    """The transport for ``url``: ``http(s)://host:port/RPC``, ``fifo:/path``,
    ``unix:/path``, ``udp:host:port``, or a bare path to a FIFO or unix socket."""
    low = url.lower()
    if low.startswith(("http://", "https://")):
        return HttpTransport(url, token=token)
    if low.startswith("fifo:"):
        path, q = _path_part(url[5:])
        if not path:
            raise BadInput(f"{url}: no FIFO path")
        return FifoTransport(path, reply_dir=q.get("reply_dir", DEFAULT_FIFO_REPLY_DIR))
    if low.startswith("unix:"):
        path, _ = _path_part(url[5:])
        if not path:
            raise BadInput(f"{url}: no socket path")
        return UnixDgramTransport(path)
    if low.startswith("udp:"):
        hostport = url[4:].lstrip("/")
        host, sep, port = hostport.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise BadInput(f"{url}: expected udp:HOST:PORT")
        return UdpTransport(host.strip("[]"), int(port))
    if low.startswith("tcp:"):
        raise BadInput(
            f"{url}: jsonrpcs has no raw TCP transport",
            hint="JSON-RPC over TCP is HTTP: use http://HOST:PORT/RPC",
        )
    if url.startswith("/"):
        try:
            mode = os.stat(url).st_mode
        except OSError:
            raise EndpointUnreachable(f"no FIFO or socket at {url}", url=url) from None
        if stat.S_ISFIFO(mode):
            return FifoTransport(url)
        if stat.S_ISSOCK(mode):
            return UnixDgramTransport(url)
    raise BadInput(
        f"unsupported JSON-RPC URL {url!r}",
        hint="use http://HOST:PORT/RPC, fifo:/path/kamailio_rpc.fifo, unix:/path/kamailio_rpc.sock "
        "or udp:HOST:PORT",
    )


# --------------------------------------------------------------------------- HTTP


class HttpTransport:
    """JSON-RPC over HTTP POST (Kamailio's xhttp + jsonrpcs, or kamtool's server).

    The JSON body is parsed whatever the status: xhttp turns the JSON-RPC error code into
    the HTTP status (``500 Method Not Found``). httpx is imported on first use.
    """

    def __init__(self, url: str, *, token: str | None = None) -> None:
        from urllib.parse import urlsplit

        # Kamailio's stock cfg (and kamtool's server) answer JSON-RPC on /RPC only:
        # a bare http://host:port means that path.
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + "/RPC"
        self.url = url
        self._token = token
        self._client: Any = None
        self._lock = threading.Lock()

    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                # Kamailio's cfg closes the connection after each reply without saying
                # so ("Connection: close" missing): reusing it would fail the next call.
                headers = {
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Connection": "close",
                }
                if self._token:
                    headers["Authorization"] = f"Bearer {self._token}"
                # Plain http needs no CA bundle; loading one costs ~0.2 s per command.
                verify = self.url.lower().startswith("https:")
                self._client = httpx.Client(headers=headers, follow_redirects=False, verify=verify)
            return self._client

    def exchange(self, request: dict[str, Any], deadline: float) -> bytes:
        import httpx

        client = self._http()
        body = encode(request)
        timeout = max(_remaining(deadline), 0.001)
        try:
            with client.stream(
                "POST", self.url, content=body, timeout=httpx.Timeout(timeout)
            ) as resp:
                chunks = []
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise _timeout(self.url)
                data = b"".join(chunks)
                status, reason = resp.status_code, resp.reason_phrase
        except httpx.ConnectError as exc:
            raise EndpointUnreachable(
                f"cannot connect to {self.url}: {_why(exc)}", url=self.url
            ) from None
        except httpx.TimeoutException:
            raise _timeout(self.url) from None
        except httpx.RemoteProtocolError as exc:
            if "without sending a response" in str(exc):
                raise RpcUnavailable(
                    f"{self.url} closed the connection without answering",
                    hint="the server may have crashed or refused the request; see its log",
                    url=self.url,
                ) from None
            raise RpcUnavailable(
                f"{self.url} closed the connection before the whole answer arrived ({_why(exc)})",
                hint="Kamailio drops HTTP answers bigger than its TCP write queue "
                "(tcp_conn_wq_max, a few MB): use the FIFO (--rpc fifo:/path) for big answers",
                url=self.url,
            ) from None
        except httpx.HTTPError as exc:
            raise RpcUnavailable(
                f"HTTP request to {self.url} failed: {_why(exc)}", url=self.url
            ) from None
        if status != 200 and not data.lstrip().startswith(b"{"):
            hint = None
            if status in (401, 403):
                hint = "the server wants a token: set [rpc] token or KAMTOOL_RPC_TOKEN"
            raise NotJsonRpc(
                f"{self.url} answered HTTP {status} {reason} without a JSON-RPC reply",
                hint=hint,
                url=self.url,
                http_status=status,
            )
        return data

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text


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

                fcntl.fcntl(rfd, _F_SETPIPE_SZ, _READ_CHUNK)
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
        if _peer_is_us(self.path):
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
                left = _remaining(deadline)
                if left <= 0:
                    raise _timeout(self.url, "the server does not read its FIFO")
                poller.poll(left * 1000)
        finally:
            os.close(wfd)

    def _receive(self, rfd: int, deadline: float) -> bytes:
        poller = select.poll()
        poller.register(rfd, select.POLLIN)
        chunks: list[bytes] = []
        while True:
            left = _remaining(deadline)
            if left <= 0:
                raise _timeout(
                    self.url,
                    "Kamailio does not answer requests it cannot parse or execute; look at its log"
                    if not chunks
                    else None,
                )
            if not poller.poll(left * 1000):
                continue
            try:
                data = os.read(rfd, _READ_CHUNK)
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
            left = _remaining(deadline)
            if left <= 0:
                raise _timeout(
                    self.url,
                    "Kamailio sends each answer as one datagram and drops answers above "
                    "~128 KiB (its log says 'Message too long'): use HTTP or the FIFO for "
                    "big answers"
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

    def _address(self) -> str:
        return self.path

    def _open(self) -> socket.socket:
        if not os.path.exists(self.path):
            raise EndpointUnreachable(f"no socket at {self.path}", url=self.url)
        self._dir = tempfile.mkdtemp(prefix="kamtool-rpc-")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(os.path.join(self._dir, "reply.sock"))
            if not _peer_is_us(self.path):
                # The server (another user) must reach our socket: directory searchable
                # but not listable (its name is random), socket writable.
                os.chmod(self._dir, 0o711)
                os.chmod(os.path.join(self._dir, "reply.sock"), 0o622)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            except OSError:
                pass
        except OSError:
            sock.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        return sock

    def _reset(self) -> None:
        super()._reset()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
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
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        except OSError:
            pass
        # Not connect()ed: jsonrpcs answers from another socket (another port) than the
        # one it receives on. So a dead UDP endpoint can only time out.
        sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
        return sock
