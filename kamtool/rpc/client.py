"""The JSON-RPC client used by the CLI, the monitor and the tests.

    client = RpcClient("fifo:/run/kamailio/kamailio_rpc.fifo", timeout=5.0)
    client.call("ul.dump", "brief")          # -> the "result" member
    client.close()                           # or use it as a context manager

``call`` raises :class:`~kamtool.errors.RpcError` for an error reply (Kamailio's code in
``rpc_code``), :class:`~kamtool.errors.RpcUnavailable` when no endpoint answers and
:class:`~kamtool.errors.OperationTimeout` when one stops answering; every message names
the URL. A client may be shared between threads (the monitor's workers do): the HTTP
transport is thread-safe, FIFO calls share nothing, and datagram calls take turns.

With ``url=None`` the client tries a running ``kamtool serve`` (found through its record in
the runtime directory), kamtool's default HTTP endpoint and Kamailio's usual FIFO and
socket (:mod:`kamtool.rpc.discovery`), and keeps the first that answers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kamtool.config import Settings, redact_url
from kamtool.db.url import db_identity
from kamtool.errors import RpcUnavailable
from kamtool.rpc import discovery, protocol
from kamtool.rpc.protocol import Reply
from kamtool.rpc.transports import EndpointUnreachable, Transport, open_transport

DEFAULT_HTTP_URL = discovery.DEFAULT_HTTP_URL
DEFAULT_FIFO_URL = f"fifo:{discovery.KAMAILIO_FIFOS[0]}"


def default_candidates(db: str | None = None) -> list[str]:
    """The endpoints tried when none is configured, servers of database ``db`` first
    (tests replace this)."""
    return discovery.candidates(db)


class RpcClient:
    """A JSON-RPC 2.0 client for one endpoint (or the default candidates)."""

    default_url = f"a running kamtool serve, {DEFAULT_HTTP_URL}, then Kamailio's FIFO and socket"

    def __init__(
        self,
        url: str | None = None,
        timeout: float = 5.0,
        token: str | None = None,
        db: str | None = None,
    ) -> None:
        """``db``: with no ``url``, try the servers of this database first (its
        :func:`~kamtool.db.url.db_identity`)."""
        self.timeout = float(timeout)
        self.token = token
        self._candidates = [url] if url else default_candidates(db)
        self._transport: Transport | None = None
        self._lock = threading.Lock()
        if url:
            self._transport = open_transport(url, token=token)  # bad URLs fail here

    @property
    def url(self) -> str:
        """The endpoint in use (the first candidate until one answered)."""
        if self._transport is not None:
            return self._transport.url
        return redact_url(self._candidates[0])

    # ------------------------------------------------------------------ calls

    def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` with positional ``params``; return its ``result``."""
        return self.call_params(method, list(params))

    def call_params(self, method: str, params: list[Any] | dict[str, Any] | None) -> Any:
        """Like :meth:`call`, with the params as one list (or a dict of named params)."""
        reply = self.request(method, params)
        return protocol.check(reply, method, url=self.url)

    def request(self, method: str, params: list[Any] | dict[str, Any] | None = None) -> Reply:
        """Send one request and return the decoded reply, error replies included."""
        request = protocol.make_request(method, params, protocol.next_id())
        deadline = time.monotonic() + self.timeout
        with self._lock:
            chosen = self._transport
        if chosen is not None:
            return protocol.decode(chosen.exchange(request, deadline), url=chosen.url)
        return self._first_answering(request, deadline)

    def _first_answering(self, request: dict[str, Any], deadline: float) -> Reply:
        """Try the default endpoints in turn; keep the first that speaks JSON-RPC.

        Only failures that prove the request was not executed move on to the next one:
        nothing listening, or something that is not a JSON-RPC server (a web page).
        """
        failures: list[str] = []
        for url in self._candidates:
            transport = open_transport(url, token=self.token)
            try:
                reply = protocol.decode(transport.exchange(request, deadline), url=transport.url)
            except (EndpointUnreachable, protocol.NotJsonRpc) as exc:
                transport.close()
                failures.append(exc.message)
                continue
            except BaseException:
                transport.close()
                raise
            with self._lock:
                if self._transport is None:
                    self._transport = transport
                elif self._transport is not transport:
                    transport.close()
            return reply
        raise RpcUnavailable(
            "no JSON-RPC endpoint answered; tried: " + "; ".join(failures),
            hint="start `kamtool serve` or Kamailio, or name the endpoint with --rpc URL "
            "(or KAMTOOL_RPC_URL, or [rpc] url in kamtool.toml)",
            tried=[redact_url(url) for url in self._candidates],
        )

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Release sockets and HTTP connections; the client reopens them when used again."""
        with self._lock:
            transport = self._transport
        if transport is not None:
            transport.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client_from_settings(settings: Settings) -> RpcClient:
    """The client for ``--rpc`` / ``KAMTOOL_RPC_URL`` / ``[rpc]`` settings (without one,
    a running ``kamtool serve`` of the settings' database is tried first)."""
    db = None if settings.rpc_url else db_identity(settings.effective_db_url)
    return RpcClient(
        settings.rpc_url, timeout=settings.rpc_timeout, token=settings.rpc_token, db=db
    )
