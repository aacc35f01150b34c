"""JSON-RPC calls between workers: one unix stream socket per worker, in the supervisor's
private directory. Worker 0 runs the JSON-RPC server everybody talks to; for a method
whose answer must cover every worker it asks the others here
(:mod:`kamtool.rpc.server.workers` says which and merges the answers).

One request per connection: a JSON line ``{"method": ..., "params": [...]}``, then one JSON
document back up to the end of the stream, ``{"result": ...}`` or ``{"error": {"code":
..., "message": ...}}`` (printed as Kamailio prints it: on several lines). Streams,
not datagrams: a merged ``dlg.list`` of many dialogs is larger than a datagram.

The answers are made by ``handler(method, params)``, which the rpc layer installs (this
layer does not import it); ``internal`` holds the few calls of the workers themselves
(a restarted worker's copy of the registrations).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from kamtool.proxy.workers import WorkerContext

log = logging.getLogger(__name__)

# (method, params) -> the answer document as bytes ({"result": ...} or {"error": ...})
Handler = Callable[[str, list[Any]], Awaitable[bytes]]
LIMIT = 1 << 30  # one answer line may be large (a merged dump)
TIMEOUT = 10.0  # a worker that does not answer within this is left out of the merge


class WorkerUnavailable(Exception):
    """A worker did not answer (restarting, or stuck)."""


class RpcLink:
    """This worker's RPC socket, and calls to the others' (see module docstring)."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.handler: Handler | None = None
        self.internal: dict[str, Callable[..., Any]] = {}
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        path = self.ctx.rpc_path(self.ctx.index)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self._server = await asyncio.start_unix_server(self._serve, path=path, limit=LIMIT)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            request = json.loads(line)
            method, params = request["method"], list(request.get("params") or [])
            if method in self.internal:
                answer = json.dumps({"result": self.internal[method](*params)}).encode()
            elif self.handler is not None:
                answer = await self.handler(method, params)
            else:
                answer = b'{"error": {"code": 500, "message": "not ready"}}'
            writer.write(answer)
            await writer.drain()
        except Exception:
            log.exception("worker rpc: serving a call")
        finally:
            writer.close()

    async def call(self, index: int, method: str, params: list[Any]) -> dict[str, Any]:
        """Ask worker ``index``; its answer document. WorkerUnavailable when it cannot."""
        try:
            async with asyncio.timeout(TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(
                    self.ctx.rpc_path(index), limit=LIMIT
                )
                try:
                    body = json.dumps({"method": method, "params": params}).encode()
                    writer.write(body + b"\n")
                    await writer.drain()
                    answer = await reader.read()
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            raise WorkerUnavailable(f"worker {index}: {exc or 'no answer'}") from exc
        if not answer:
            raise WorkerUnavailable(f"worker {index}: no answer")
        return json.loads(answer)

    async def call_others(self, method: str, params: list[Any]) -> list[dict[str, Any]]:
        """Ask every other worker at once; the answers of those that gave one, with the
        index of each under ``"worker"``."""
        others = self.ctx.others
        got = await asyncio.gather(
            *(self.call(i, method, params) for i in others), return_exceptions=True
        )
        out = []
        for index, answer in zip(others, got, strict=True):
            if isinstance(answer, BaseException):
                log.warning("worker rpc %s: %s", method, answer)
                continue
            answer["worker"] = index
            out.append(answer)
        return out

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                os.unlink(self.ctx.rpc_path(self.ctx.index))
            except OSError:
                pass
