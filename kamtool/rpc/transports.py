"""How JSON-RPC requests reach the server: HTTP, FIFO, unix datagram and UDP.

Every transport has ``exchange(request, deadline) -> bytes`` (``deadline`` is a
``time.monotonic()`` value) and ``close()``. A server that cannot be reached raises
:class:`EndpointUnreachable` (a :class:`~kamtool.errors.RpcUnavailable`), one that does
not answer in time :class:`~kamtool.errors.OperationTimeout`; both name the URL. No
call blocks past its deadline. :func:`open_transport` and HTTP live here, the FIFO in
:mod:`kamtool.rpc.fifo_transport`, the datagram ones in :mod:`kamtool.rpc.dgram_transport`,
what they share in :mod:`kamtool.rpc.transport_base`; this module exports them all.

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

import os
import stat
import threading
import time
from typing import Any

from kamtool.config import redact_url
from kamtool.errors import BadInput, RpcUnavailable
from kamtool.rpc.dgram_transport import UdpTransport, UnixDgramTransport
from kamtool.rpc.fifo_transport import FifoTransport
from kamtool.rpc.protocol import NotJsonRpc, encode
from kamtool.rpc.transport_base import (
    DEFAULT_FIFO_REPLY_DIR,
    DGRAM_MAX_REQUEST,
    FIFO_MAX_REQUEST,
    EndpointUnreachable,
    Transport,
    remaining,
    timeout_error,
)

__all__ = [
    "DEFAULT_FIFO_REPLY_DIR",
    "DGRAM_MAX_REQUEST",
    "FIFO_MAX_REQUEST",
    "EndpointUnreachable",
    "FifoTransport",
    "HttpTransport",
    "Transport",
    "UdpTransport",
    "UnixDgramTransport",
    "open_transport",
]

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
        f"unsupported JSON-RPC URL {redact_url(url)!r}",
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
        self._target = url  # may hold user:password (Basic auth): never shown
        self.url = redact_url(url)  # what messages and error details name
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
        timeout = max(remaining(deadline), 0.001)
        try:
            with client.stream(
                "POST", self._target, content=body, timeout=httpx.Timeout(timeout)
            ) as resp:
                chunks = []
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise timeout_error(self.url)
                data = b"".join(chunks)
                status, reason = resp.status_code, resp.reason_phrase
        except httpx.ConnectError as exc:
            raise EndpointUnreachable(
                f"cannot connect to {self.url}: {_why(exc)}", url=self.url
            ) from None
        except httpx.TimeoutException:
            raise timeout_error(self.url) from None
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
