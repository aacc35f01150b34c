"""Dispatcher destination states shared by the workers: Kamailio keeps them in shared
memory, so a destination that probing (worker 0's alone) or a failed call
(``ds_mark_dst`` in any worker) marks inactive is skipped by every process. Here the
worker where the state changed sends the new state bits to the others, which set them
as they are (the counters behind the thresholds stay the changing worker's)."""

from __future__ import annotations

import json
from typing import Any

from kamtool.proxy.workers.channel import Channel

DS = b"D"  # channel kind


class SharedDispatcher:
    """Copies one worker's destination state changes to the others."""

    def __init__(self, dispatcher: Any, channel: Channel) -> None:
        self.dispatcher = dispatcher
        self.channel = channel
        channel.on(DS, self._received)
        update = dispatcher.update_state

        def shared_update(set_id: int, uri: str, state: int) -> bool:
            dst = dispatcher.find(set_id, uri)
            before = dst.state if dst is not None else None
            done = update(set_id, uri, state)
            after = dispatcher.find(set_id, uri)
            if done and after is not None and after.state != before:
                change = {"set": set_id, "uri": uri, "state": after.state}
                channel.broadcast(DS, json.dumps(change).encode())
            return done

        dispatcher.update_state = shared_update  # probing and ds_mark_dst both call it

    def _received(self, data: bytes) -> None:
        change = json.loads(data)
        engine = self.dispatcher.engine
        if engine is not None and self.dispatcher.find(change["set"], change["uri"]):
            engine.set_state(change["set"], change["uri"], int(change["state"]))
