"""The monitor's own HEP collector: a thread receiving HEP, a bounded store of messages by
call, and the server's tracing switched on while it runs (as ``kamtool trace`` does)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

from kamtool.core.trace import HepCollector, TracedMessage, start_tracing, stop_tracing
from kamtool.errors import KamtoolError

MAX_MESSAGES = 5000  # kept for the Trace tab
MAX_CALLS = 1000  # calls whose messages are kept for their ladder


class TraceStore:
    """The newest messages, and the messages of the newest calls, both bounded."""

    def __init__(self, max_messages: int = MAX_MESSAGES, max_calls: int = MAX_CALLS) -> None:
        self.messages: deque[TracedMessage] = deque(maxlen=max_messages)
        self.calls: OrderedDict[str, list[TracedMessage]] = OrderedDict()
        self.max_calls = max_calls
        self.lock = threading.Lock()

    def add(self, batch: Sequence[TracedMessage]) -> None:
        with self.lock:
            for msg in batch:
                self.messages.append(msg)
                flow = self.calls.get(msg.call_id)
                if flow is None:
                    if len(self.calls) >= self.max_calls:
                        self.calls.popitem(last=False)
                    flow = self.calls[msg.call_id] = []
                flow.append(msg)

    def call(self, call_id: str) -> list[TracedMessage]:
        """The messages of ``call_id`` seen so far, in arrival order."""
        with self.lock:
            return list(self.calls.get(call_id, ()))


class HepFeed:
    """Collects HEP on ``host:port`` in a thread into :attr:`store`; ``on_batch`` is called
    (from that thread) with each batch of new messages."""

    def __init__(self, host: str, port: int, *, rpc: Any = None, auth_key: str | None = None):
        self.collector = HepCollector(host, port, auth_key=auth_key)  # BadInput if taken
        self.store = TraceStore()
        self.rpc = rpc
        self.state: dict[str, Any] | None = None
        self.error: str | None = None
        self.on_batch: Callable[[list[TracedMessage]], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        return self.collector.uri

    def start(self) -> None:
        """Switch the server's tracing on (before returning: what happens next is seen),
        then collect in a thread."""
        if self.rpc is not None:
            try:
                self.state = start_tracing(self.rpc, self.uri)
            except KamtoolError as exc:
                self.error = f"tracing not switched on: {exc}"
        self._thread = threading.Thread(target=self._run, name="hep-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        batch: list[TracedMessage] = []
        while not self._stop.is_set():
            for msg in self.collector.messages(time.monotonic() + 0.2):
                batch.append(msg)
                if len(batch) >= 200:
                    break
            if batch:
                self.store.add(batch)
                if self.on_batch is not None:
                    self.on_batch(batch)
                batch = []

    def stop(self) -> None:
        """Stop collecting; tracing back off on the server (unless it was on before)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self.rpc is not None and self.state is not None:
            try:
                stop_tracing(self.rpc, self.uri, self.state)
            except KamtoolError:
                pass
        self.collector.close()
