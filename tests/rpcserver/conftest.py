"""Fixtures: an RpcServer running on its own event loop thread, with fake proxy state."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from kamtool.rpc.server import RpcServer
from tests.rpcserver.fakes import FakeState


class ServerThread:
    """Runs ``RpcServer`` on a private loop; ``call(fn)`` runs ``fn`` on that loop."""

    def __init__(self, make: Callable[[], RpcServer]) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server: RpcServer = self.run(self._start(make))

    async def _start(self, make: Callable[[], RpcServer]) -> RpcServer:
        server = make()
        await server.start()
        return server

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], Any]) -> Any:
        fut: Future = Future()

        def go() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # handed back to the test thread
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(go)
        return fut.result(10)

    def stop(self) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def state() -> FakeState:
    return FakeState()


@pytest.fixture(autouse=True)
def _fast_thread_switch() -> Iterator[None]:
    """Server and client share one interpreter here: switch threads quickly (the default
    5 ms GIL switch interval would dominate every loopback round trip)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    yield
    sys.setswitchinterval(old)


@pytest.fixture
def rpc(tmp_path: Path, state: FakeState) -> Iterator[ServerThread]:
    """A server on 127.0.0.1 (free port) with every method, FIFO and socket in tmp_path."""
    runtime = tmp_path / "run"
    srv = ServerThread(
        lambda: RpcServer(
            state.registry(),
            "127.0.0.1",
            0,
            runtime_dir=runtime,
            fifo_reply_dir=tmp_path,
            metrics=state.metrics_fn(),
        )
    )
    try:
        yield srv
    finally:
        srv.stop()
