"""kamtool's JSON-RPC server: Kamailio's jsonrpcs transports (HTTP, FIFO, unix datagram)
in front of a method :class:`~kamtool.rpc.methods.Registry`, plus Prometheus ``/metrics``.

Runs on the caller's asyncio loop and knows nothing about the proxy: the proxy builds a
registry with :func:`kamtool.rpc.methods.build.build_registry` and starts
``RpcServer(registry, host, port, ...)``. Tests run it the same way with fakes.

Security: HTTP binds to loopback by default. Bound anywhere else it refuses to start
without a bearer token (``Settings.rpc_token`` / ``KAMTOOL_RPC_TOKEN``); a configured
token is always required, compared in constant time. The FIFO and the datagram socket
live in a runtime directory created 0700, the endpoints themselves 0600.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections.abc import Callable
from pathlib import Path

from kamtool.errors import ConfigError, bind_hint
from kamtool.rpc.discovery import FIFO_NAME, SOCKET_NAME, default_runtime_dir
from kamtool.rpc.methods import Registry
from kamtool.rpc.server.dgram import DgramServer
from kamtool.rpc.server.endpoint import EndpointInUse
from kamtool.rpc.server.fifo import FifoServer
from kamtool.rpc.server.http import MAX_HEADER_BYTES, HttpHandler, MetricsFn

__all__ = ["FIFO_NAME", "SOCKET_NAME", "RpcServer", "default_runtime_dir", "is_loopback"]

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _private_dir(path: Path) -> None:
    """Create ``path`` owner-only, or check that an existing one is ours and private."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.geteuid():
        raise ConfigError(
            f"RPC runtime directory {path} belongs to another user",
            hint="choose another runtime directory",
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)


class RpcServer:
    """HTTP (``POST /RPC*``, ``GET /metrics``), FIFO and datagram JSON-RPC endpoints.

    ``port=0`` picks a free port (see :attr:`port` after :meth:`start`). ``runtime_dir``
    None means :func:`default_runtime_dir`; ``fifo``/``dgram`` False skip those transports.
    ``metrics`` produces ``(body, content_type)`` for ``GET /metrics``.
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 5071,
        *,
        token: str | None = None,
        runtime_dir: Path | str | None = None,
        fifo: bool = True,
        dgram: bool = True,
        fifo_reply_dir: Path | str = "/tmp",
        metrics: MetricsFn | Callable[[], tuple[bytes, str]] | None = None,
        server_header: str = "kamtool",
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        if not is_loopback(host) and not token:
            raise ConfigError(
                f"refusing to serve JSON-RPC on non-loopback address {host} without a token",
                hint="set [rpc] token in the config file or KAMTOOL_RPC_TOKEN",
            )
        self.registry = registry
        self.host = host
        self.port = port
        self.token = token
        self.runtime_dir = Path(runtime_dir) if runtime_dir else default_runtime_dir()
        self.http = HttpHandler(
            registry,
            token=token,
            metrics=metrics,
            server_header=server_header,
            port=lambda: self.port,
            allowed_hosts=(host, *allowed_hosts),  # Host names accepted (IPs always are)
        )
        self.fifo = (
            FifoServer(registry, self.runtime_dir / FIFO_NAME, Path(fifo_reply_dir))
            if fifo
            else None
        )
        self.dgram = DgramServer(registry, self.runtime_dir / SOCKET_NAME) if dgram else None
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/RPC"

    @property
    def endpoints(self) -> list[str]:
        """The URLs clients reach this server at, once started: HTTP, and the FIFO and
        socket it holds (not those another server of the runtime directory kept)."""
        from kamtool.rpc.discovery import http_url

        urls = [http_url(self.host, self.port)]
        if self.fifo:
            urls.append(f"fifo:{self.fifo.path}")
        if self.dgram:
            urls.append(f"unix:{self.dgram.path}")
        return urls

    @property
    def fifo_path(self) -> Path | None:
        return self.fifo.path if self.fifo else None

    @property
    def dgram_path(self) -> Path | None:
        return self.dgram.path if self.dgram else None

    async def start(self) -> None:
        """Bind every transport; ConfigError (with a hint) if the HTTP port cannot be bound."""
        if self.fifo or self.dgram:
            _private_dir(self.runtime_dir)
        try:
            self._server = await asyncio.start_server(
                self.http, self.host, self.port, limit=MAX_HEADER_BYTES, reuse_address=True
            )
        except OSError as exc:  # the same clean error as a SIP listener that cannot bind
            raise ConfigError(
                f"cannot serve JSON-RPC on {self.host}:{self.port}: {exc.strerror or exc}",
                hint=bind_hint(exc, "--rpc-listen"),
            ) from exc
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        try:
            for name in ("fifo", "dgram"):
                transport = getattr(self, name)
                if transport is None:
                    continue
                try:
                    await transport.start()
                except EndpointInUse as exc:
                    # e.g. a second proxy on this host with the same runtime dir: it keeps
                    # HTTP, the first one keeps the FIFO and socket
                    log.warning("RPC %s disabled: %s", name, exc)
                    setattr(self, name, None)
        except Exception:
            await self.close()
            raise
        log.info("JSON-RPC on %s (fifo %s, socket %s)", self.url, self.fifo_path, self.dgram_path)

    async def close(self) -> None:
        """Stop every transport and remove the FIFO and socket files."""
        if self._server is not None:
            self._server.close()
            await self.http.close()
            await self._server.wait_closed()
            self._server = None
        if self.fifo:
            await self.fifo.close()
        if self.dgram:
            await self.dgram.close()

    async def __aenter__(self) -> RpcServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
