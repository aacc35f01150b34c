"""Kamailio's ``reload_delta``: at most one RPC reload of a table in 5 seconds.

dispatcher and permissions (and dialplan, ...) in Kamailio 5.6 refuse a reload that comes
within ``reload_delta`` seconds of the previous one, with code 500 and a module-specific
message. In Kamailio that guards against two reloads of the same in-memory table at once,
which can crash it; our reloads swap a snapshot on one event loop and could not collide,
but operators' scripts (and kamtool's own CLI) already cope with the refusal, so the
server behaves the same on both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kamtool.rpc.methods import RpcFault

__all__ = ["RELOAD_DELTA", "ReloadGuard"]

RELOAD_DELTA = 5.0  # seconds, Kamailio's reload_delta default


class ReloadGuard:
    """Call it before each reload: raises ``RpcFault(500, message)`` when the previous
    accepted reload was less than ``delta`` seconds ago, else records this one."""

    def __init__(
        self,
        message: str,
        delta: float = RELOAD_DELTA,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.message = message
        self.delta = delta
        self.clock = clock
        self._last = float("-inf")

    def __call__(self) -> None:
        now = self.clock()
        if now - self._last < self.delta:
            raise RpcFault(500, self.message)
        self._last = now
