"""A small HTTP/1.1 server for ``POST /RPC*`` and ``GET /metrics`` on asyncio streams.

Why our own parser and not h11: the server answers two fixed routes with small request
bodies (Content-Length or chunked); the parser below is short, has strict limits, and
keeps the dependency list as it is. It is deliberately strict: anything outside what it
supports gets a clear 4xx, never a hang.

Kamailio conventions kept: HTTP status = JSON-RPC error code and reason = error message
when the code is an HTTP status; ``Content-Type: application/json``; body printed by
:mod:`kamtool.rpc.kamjson`; an HTTP/1.0 request gets an ``HTTP/1.0`` status line.
Differences (Kamailio closes after every reply and hangs on bad input):

* no ``Sia:`` header (xhttp's renamed fake Via, meaningless outside SIP);
* keep-alive is supported (HTTP/1.1 default, ``Connection: close`` honoured);
* GET/PUT/... on ``/RPC`` → ``405`` with a ``-32600`` error (Kamailio executes a GET with
  a body and hangs on a GET without one);
* a path that is neither ``/RPC*`` nor ``/metrics`` → ``404`` (Kamailio's cfg answers
  ``200`` with an HTML "Wrong URL" page);
* ``Expect: 100-continue`` is answered (curl waits a second for it on bodies > 1 KiB);
* chunked request bodies are accepted;
* at ``max_connections`` open connections the one idle longest between keep-alive
  requests is closed for a newcomer (256 idle clients locked everybody out for a minute
  at a time); only when none is idle does the newcomer get ``503``;
* a request line/headers not complete within ``header_timeout`` or a body not within
  ``body_timeout`` → the connection is closed (slowloris guard);
* cross-site requests are refused (:mod:`kamtool.rpc.server.guard`: Host allow-list,
  foreign ``Origin``, state-changing calls without a JSON content type);
* only ``/RPC`` followed by letters, digits, ``_``, ``-`` or ``/`` is an RPC path: ``/RPC/../x``
  and percent-escapes are 404, not ``/RPC``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable

from kamtool.rpc import kamjson
from kamtool.rpc.methods import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, Registry
from kamtool.rpc.server.dispatch import (
    Reply,
    error_object,
    handle_bytes,
    is_streamed,
    method_names,
    render,
)
from kamtool.rpc.server.guard import CrossSiteGuard

__all__ = ["HttpHandler"]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024  # JSON parsing holds the GIL: a bigger body would stall SIP

_RPC_PATH = re.compile(r"/RPC[A-Za-z0-9_/-]*")

MetricsFn = Callable[[], Awaitable[tuple[bytes, str]] | tuple[bytes, str]]


class _BadRequest(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        code: int,
        message: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.code, self.message = status, reason, code, message
        self.headers = headers or []


def _clean_reason(reason: str) -> str:
    """A reason phrase safe for the status line (no CR/LF, ASCII only)."""
    text = "".join(c if " " <= c < "\x7f" else " " for c in reason).strip()
    return text or "Error"


class HttpHandler:
    """Connection handler for :func:`asyncio.start_server`."""

    def __init__(
        self,
        registry: Registry,
        *,
        token: str | None = None,
        metrics: MetricsFn | None = None,
        server_header: str = "kamtool",
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        max_connections: int = 256,
        send_timeout: float = 120.0,
        port: Callable[[], int] = lambda: 0,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.registry = registry
        self.token = token
        self.metrics = metrics
        self.server_header = server_header
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.send_timeout = send_timeout  # a reply the client does not read in time is cut
        self.connections: set[asyncio.StreamWriter] = set()
        # keep-alive connections waiting for their next request, and since when
        self.idle: dict[asyncio.StreamWriter, float] = {}
        self.tasks: set[asyncio.Task] = set()
        self.guard = CrossSiteGuard(port, allowed_hosts)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= self.max_connections and not self._evict_idle():
            # bounded resources: idle keep-alive clients cannot exhaust the proxy's fds
            try:
                await self._send_error(
                    writer, "HTTP/1.1", 503, "Service Unavailable", INTERNAL_ERROR,
                    "Too many connections, retry later",
                )  # fmt: skip
            except (ConnectionError, OSError):
                pass
            writer.close()
            return
        self.connections.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            first = True
            while True:
                keep = await self._one_request(reader, writer, first)
                first = False
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:  # never let one connection take the server down
            log.exception("HTTP RPC connection failed")
        finally:
            self.connections.discard(writer)
            self.idle.pop(writer, None)
            if task is not None:
                self.tasks.discard(task)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 5)
            except TimeoutError:
                writer.transport.abort()  # a client that never reads its reply
            except (ConnectionError, OSError):
                pass

    def _evict_idle(self) -> bool:
        """Close the keep-alive connection idle longest (its client reconnects when it
        has something to ask); False when no connection is idle."""
        if not self.idle:
            return False
        oldest = min(self.idle, key=self.idle.__getitem__)
        del self.idle[oldest]
        self.connections.discard(oldest)
        oldest.transport.abort()
        return True

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bool
    ) -> bool:
        """Serve one request; False when the connection must close."""
        timeout = self.header_timeout if first else self.idle_timeout
        if not first:
            self.idle[writer] = time.monotonic()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.LimitOverrunError:
            await self._send_error(
                writer,
                "HTTP/1.1",
                431,
                "Request Header Fields Too Large",
                INVALID_REQUEST,
                "Invalid Request: headers too large",
            )
            return False
        except asyncio.IncompleteReadError:
            return False
        finally:
            self.idle.pop(writer, None)
        version = "HTTP/1.1"
        try:
            method, target, version, headers = _parse_head(head)
            keep_alive = _keep_alive(version, headers)
            chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            length = 0 if chunked else _content_length(headers)
            if (chunked or length) and headers.get("expect", "").lower() == "100-continue":
                # curl sends this for bodies over 1 KiB and waits a second without it
                writer.write(f"{version} 100 Continue\r\n\r\n".encode())
            body = b""
            if chunked:
                body = await asyncio.wait_for(_read_chunked(reader), self.body_timeout)
            elif length:
                body = await asyncio.wait_for(reader.readexactly(length), self.body_timeout)
            path = target.split("?", 1)[0]
            self._check_site(headers)
            if path == "/metrics" and self.metrics is not None:
                self._check_token(headers)
                if method not in ("GET", "HEAD"):
                    raise _BadRequest(
                        405,
                        "Method Not Allowed",
                        INVALID_REQUEST,
                        "Invalid Request: use GET for /metrics",
                        [("Allow", "GET, HEAD")],
                    )
                await self._send_metrics(writer, version, keep_alive, method == "HEAD")
                return keep_alive
            if not _RPC_PATH.fullmatch(path) or "//" in path:
                raise _BadRequest(
                    404,
                    "Not Found",
                    INVALID_REQUEST,
                    f"Invalid Request: no RPC endpoint at {path[:100]}",
                )
            self._check_token(headers)
            if method != "POST":
                raise _BadRequest(
                    405,
                    "Method Not Allowed",
                    INVALID_REQUEST,
                    "Invalid Request: POST the JSON-RPC request to /RPC",
                    [("Allow", "POST")],
                )
            reply = await handle_bytes(
                self.registry, body, lambda doc: self._check_type(headers, doc)
            )
        except _BadRequest as bad:
            # Error answers close the connection: simplest way to never misread what follows.
            await self._send_error(
                writer, version, bad.status, bad.reason, bad.code, bad.message, bad.headers
            )
            return False
        if version != "HTTP/1.1" and is_streamed(reply.body):
            keep_alive = False  # no chunked encoding: the body ends where the connection does
        await self._send_reply(writer, version, reply, keep_alive)
        return keep_alive

    async def close(self) -> None:
        """Stop every open connection (keep-alive ones wait for a next request).

        Aborting the transports ends each handler through its normal EOF path; cancelling
        the handler tasks instead trips asyncio's stream callback on 3.11."""
        for writer in list(self.connections):
            writer.transport.abort()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)

    def _check_site(self, headers: dict[str, str]) -> None:
        # With a token (always, off loopback) DNS rebinding gains nothing: the page has no
        # token. Then any Host is served, whatever name the operator's tools use.
        host = self.guard.host_problem(headers) if self.token is None else None
        problem = host or self.guard.origin_problem(headers)
        if problem is not None:
            log.info("HTTP RPC request refused: %s", problem)
            raise _BadRequest(403, "Forbidden", INVALID_REQUEST, problem)

    def _check_type(self, headers: dict[str, str], doc: object) -> None:
        problem = self.guard.content_problem(headers, method_names(doc))
        if problem is not None:
            raise _BadRequest(415, "Unsupported Media Type", INVALID_REQUEST, problem)

    def _check_token(self, headers: dict[str, str]) -> None:
        if self.token is None:
            return
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )
        if not ok:
            raise _BadRequest(
                401,
                "Unauthorized",
                401,
                "Unauthorized: bearer token required",
                [("WWW-Authenticate", 'Bearer realm="kamtool"')],
            )

    async def _send_metrics(self, writer, version: str, keep_alive: bool, head_only: bool) -> None:
        assert self.metrics is not None
        produced = self.metrics()
        if asyncio.iscoroutine(produced) or isinstance(produced, Awaitable):
            produced = await produced
        body, content_type = produced
        headers = [("Content-Type", content_type)]
        await self._write(
            writer,
            version,
            200,
            "OK",
            headers,
            b"" if head_only else body,
            keep_alive,
            length=len(body),
        )

    async def _send_reply(self, writer, version: str, reply: Reply, keep_alive: bool) -> None:
        if reply.body is None:  # a batch of notifications only
            await self._write(writer, version, 204, "No Content", [], b"", keep_alive)
            return
        if is_streamed(reply.body):
            await self._stream_reply(writer, version, reply, keep_alive)
            return
        body = await render(reply.body)  # big ones off the event loop
        await self._write(
            writer,
            version,
            reply.status,
            reply.reason,
            [("Content-Type", "application/json")],
            body,
            keep_alive,
        )

    async def _stream_reply(self, writer, version: str, reply: Reply, keep_alive: bool) -> None:
        """A big answer in pieces as it is printed: chunked on HTTP/1.1, and on HTTP/1.0
        (no chunked encoding) delimited by closing the connection. Each piece waits until
        the client has taken the previous ones (bounded memory, and a client that stops
        reading is cut after ``send_timeout``)."""
        chunked = version == "HTTP/1.1"
        lines = [f"{version} {reply.status} {_clean_reason(reply.reason)}",
                 "Content-Type: application/json", f"Server: {self.server_header}"]  # fmt: skip
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            if not keep_alive:
                lines.append("Connection: close")
        else:
            lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

        async def write(data: bytes) -> None:
            if chunked:
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                writer.write(data)
            await asyncio.wait_for(writer.drain(), self.send_timeout)

        await kamjson.stream(reply.body, write)
        if chunked:
            writer.write(b"0\r\n\r\n")
        await asyncio.wait_for(writer.drain(), self.send_timeout)

    async def _send_error(
        self,
        writer,
        version,
        status,
        reason,
        code,
        message,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        body = kamjson.dumps(error_object(code, message, None)).encode()
        headers = [("Content-Type", "application/json"), *(extra or [])]
        await self._write(writer, version, status, reason, headers, body, keep_alive=False)

    async def _write(
        self,
        writer,
        version,
        status,
        reason,
        headers,
        body: bytes,
        keep_alive: bool,
        length: int | None = None,
    ) -> None:
        lines = [
            f"{version if version in ('HTTP/1.0', 'HTTP/1.1') else 'HTTP/1.1'} "
            f"{status} {_clean_reason(reason)}"
        ]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Server: {self.server_header}")
        lines.append(f"Content-Length: {len(body) if length is None else length}")
        if not keep_alive:
            lines.append("Connection: close")
        elif version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await asyncio.wait_for(writer.drain(), self.send_timeout)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes everything
        raise _BadRequest(400, "Bad Request", PARSE_ERROR, "Parse error: bad HTTP head") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(
            400, "Bad Request", INVALID_REQUEST, "Invalid Request: bad HTTP request line"
        )
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(
                400, "Bad Request", INVALID_REQUEST, "Invalid Request: bad HTTP header"
            )
        key = name.lower()
        if key in headers and key == "content-length" and headers[key] != value.strip():
            raise _BadRequest(
                400, "Bad Request", INVALID_REQUEST, "Invalid Request: conflicting Content-Length"
            )
        headers[key] = value.strip()
    return method, target, version, headers


def _content_length(headers: dict[str, str]) -> int:
    raw = headers.get("content-length")
    if raw is None:
        return 0
    if not raw.isdigit():
        raise _BadRequest(
            400, "Bad Request", INVALID_REQUEST, "Invalid Request: bad Content-Length"
        )
    length = int(raw)
    if length > MAX_BODY_BYTES:
        raise _BadRequest(
            413,
            "Content Too Large",
            INVALID_REQUEST,
            f"Invalid Request: body larger than {MAX_BODY_BYTES} bytes",
        )
    return length


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
    conn = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in conn
    return "close" not in conn


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (trailers read and ignored)."""
    body = bytearray()
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest(
                400, "Bad Request", INVALID_REQUEST, "Invalid Request: bad chunk size"
            ) from None
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _BadRequest(
                400, "Bad Request", INVALID_REQUEST, "Invalid Request: bad chunk size"
            ) from None
        if size < 0 or len(body) + size > MAX_BODY_BYTES:
            raise _BadRequest(
                413,
                "Content Too Large",
                INVALID_REQUEST,
                f"Invalid Request: body larger than {MAX_BODY_BYTES} bytes",
            )
        if size == 0:
            try:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailer fields
            except asyncio.LimitOverrunError:
                raise _BadRequest(
                    400, "Bad Request", INVALID_REQUEST, "Invalid Request: bad trailer"
                ) from None
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise _BadRequest(
                400, "Bad Request", INVALID_REQUEST, "Invalid Request: bad chunk framing"
            )
