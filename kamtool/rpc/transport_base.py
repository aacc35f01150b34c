"""What the JSON-RPC client transports share: the :class:`Transport` protocol, the error of
an endpoint nobody listens at, deadlines, the limits of Kamailio's jsonrpcs, and whether
the server runs as our user (which decides the modes of our reply endpoints)."""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from kamtool.errors import OperationTimeout, RpcUnavailable

DEFAULT_FIFO_REPLY_DIR = "/tmp"
FIFO_MAX_REQUEST = 8191  # jsonrpcs' FIFO input buffer (8192 with the terminating NUL)
DGRAM_MAX_REQUEST = 65456  # jsonrpcs' datagram receive buffer
READ_CHUNK = 1 << 20  # FIFO reads and pipe size
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux): a bigger pipe means fewer wake-ups
RCVBUF = 8 << 20  # datagram receive buffer: room for big answers


class EndpointUnreachable(RpcUnavailable):
    """Nothing listens at the URL (refused, missing FIFO/socket): try another endpoint."""


class Transport(Protocol):
    url: str

    def exchange(self, request: dict[str, Any], deadline: float) -> bytes: ...

    def close(self) -> None: ...


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (a ``time.monotonic()`` value), never negative."""
    return max(0.0, deadline - time.monotonic())


def timeout_error(url: str, timeout_hint: str | None = None) -> OperationTimeout:
    """The error of a server at ``url`` that did not answer before the deadline."""
    return OperationTimeout(
        f"no reply from {url} in time",
        hint=timeout_hint
        or "the server may be overloaded or hung; raise --rpc timeout "
        "([rpc] timeout / KAMTOOL_RPC_TIMEOUT) if answers are just slow",
        url=url,
    )


def peer_is_us(path: str) -> bool:
    """True when the server at ``path`` runs as our user (or we are root)."""
    if os.geteuid() == 0:
        return True
    try:
        return os.stat(path).st_uid == os.geteuid()
    except OSError:
        return True
