"""What the FIFO and unix datagram servers share: a path in the filesystem that one live
server owns (a stale one, left by a crash, is replaced), and request tasks that a close
cancels before the path is removed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

__all__ = ["EndpointInUse", "LocalEndpoint"]


class EndpointInUse(OSError):
    """The FIFO or socket path belongs to another running server."""


class LocalEndpoint:
    """Base of :class:`~kamtool.rpc.server.fifo.FifoServer` and
    :class:`~kamtool.rpc.server.dgram.DgramServer`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tasks: set[asyncio.Task] = set()

    def _claim_path(self, is_kind: Callable[[int], bool], in_use: Callable[[], bool]) -> None:
        """Remove what a dead server left at ``path`` (an entry whose mode passes
        ``is_kind`` and that nobody serves: ``in_use()`` is False); raise
        :class:`EndpointInUse` when a live server still has it."""
        try:
            if is_kind(os.lstat(self.path).st_mode):
                if in_use():
                    raise EndpointInUse(f"another server serves {self.path}")
                self.path.unlink()  # left over from a crash
        except FileNotFoundError:
            pass

    def _spawn(self, request: Coroutine[Any, Any, None]) -> None:
        """Answer one request in its own task (tracked, so that close can cancel it)."""
        task = asyncio.get_running_loop().create_task(request)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self) -> None:
        """After the reader stopped: cancel the requests in flight, remove the path."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
