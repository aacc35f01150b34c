"""Replay captured JSON-RPC answers: a stand-in server for tests, snapshots and benchmarks.

A capture directory holds ``<method>[.<variant>].json`` files in the reference format
(``{"request": ..., "response": ...}``). :class:`CaptureClient` answers a call with the
captured response of the same method and parameters, or else of the same method's
plain ``<method>.json`` file. It records every call so tests can check what was asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kamtool.errors import RpcError, RpcUnavailable
from kamtool.tui.source import RpcSource

Key = tuple[str, tuple[Any, ...]]


def load_captures(capture_dir: Path) -> dict[Key, dict[str, Any]]:
    """Index the HTTP captures of ``capture_dir`` by (method, params).

    For a given key the shortest file name wins: ``dispatcher.list.json`` over
    ``dispatcher.list.after_reload.json``, which describes a later state.
    ``(method, ("*",))`` holds the method's answer for parameters never captured.
    """
    index: dict[Key, dict[str, Any]] = {}
    chosen: dict[Key, int] = {}
    for path in sorted(Path(capture_dir).glob("*.json")):
        doc = json.loads(path.read_text())
        request, response = doc.get("request"), doc.get("response")
        if doc.get("transport") != "http" or not isinstance(request, dict):
            continue
        method = request.get("method")
        if not isinstance(method, str) or not isinstance(response, dict) or "id" not in request:
            continue
        params = request.get("params", [])
        key = (method, tuple(params) if isinstance(params, list) else ())
        for k in (key, (method, ("*",))):
            if len(path.stem) < chosen.get(k, 1 << 30):
                chosen[k] = len(path.stem)
                index[k] = response
    return index


class CaptureClient:
    """A fake RPC client answering from captures; ``calls`` lists what it was asked.

    ``results`` overrides answers per method (a value, or an exception to raise);
    ``down`` makes every call fail like an unreachable server.
    """

    def __init__(self, capture_dir: Path):
        self._index = load_captures(capture_dir)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.results: dict[str, Any] = {}
        self.down = False
        self.on_call: Callable[[str, tuple[Any, ...]], None] | None = None
        self._lock = threading.Lock()

    def call(self, method: str, *params: Any) -> Any:
        with self._lock:
            self.calls.append((method, params))
        if self.on_call is not None:
            self.on_call(method, params)
        if self.down:
            raise RpcUnavailable("connection refused (capture client is down)")
        if method in self.results:
            value = self.results[method]
            if isinstance(value, Exception):
                raise value
            return value() if callable(value) else value
        response = self._index.get((method, params)) or self._index.get((method, ("*",)))
        if response is None:
            raise RpcError(500, "Method Not Found")
        if "error" in response:
            raise RpcError(response["error"].get("code", 500), response["error"].get("message"))
        return response.get("result")

    def actions(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The calls that change state (everything but reads)."""
        writes = ("ul.rm_contact", "dlg.end_dlg", "dispatcher.set_state", "ws.close")
        return [c for c in self.calls if c[0] in writes]


class FakeSource(RpcSource):
    """An :class:`RpcSource` whose server is a :class:`CaptureClient` (shared by all threads)."""

    def __init__(self, capture_dir: Path, target: str = "http://127.0.0.1:5071/RPC"):
        self.client = CaptureClient(capture_dir)
        super().__init__(lambda: self.client, target)
