"""Dispatcher destination states shared by the workers: Kamailio keeps them in shared
memory, so a destination that probing (worker 0's alone) or a failed call
(``ds_mark_dst`` in any worker) marks inactive is skipped by every process. Here the
worker where the state changed sends the new state bits to the others, which set them
as they are (the counters behind the thresholds stay the changing worker's).

:class:`SharedDispatcher` is the ``shared`` listener of
:class:`~kamtool.proxy.dispatcher.Dispatcher`; :meth:`SharedDispatcher.serve` gives it the
dispatcher the others' changes go to."""

from __future__ import annotations

import json
from typing import Any

from kamtool.proxy.workers.channel import DISPATCHER, Channel


class SharedDispatcher:
    """Copies one worker's destination state changes to the others."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.dispatcher: Any = None

    def serve(self, dispatcher: Any) -> None:
        """Apply the other workers' changes to ``dispatcher`` from now on."""
        self.dispatcher = dispatcher
        self.channel.on(DISPATCHER, self._received)

    def ds_changed(self, set_id: int, uri: str, state: int) -> None:
        change = {"set": set_id, "uri": uri, "state": state}
        self.channel.broadcast(DISPATCHER, json.dumps(change).encode())

    def _received(self, data: bytes) -> None:
        change = json.loads(data)
        self.dispatcher.mirror_state(int(change["set"]), str(change["uri"]), int(change["state"]))
