"""Requests the proxy sends on its own behalf through tm: dispatcher keepalives."""

from __future__ import annotations

from typing import Any


class Prober:
    """``probe(dst, done)`` for the dispatcher: an OPTIONS (or the configured method) to
    ``dst`` as a client transaction; ``done(status)`` with the final status (408 on
    timeout, 500 when it cannot be sent)."""

    def __init__(self, tm: Any, wire: Any, codec: Any, settings: Any) -> None:
        self.tm = tm
        self.wire = wire
        self.codec = codec
        self.settings = settings  # the dispatcher's (ping_method, ping_from)

    def probe(self, dst: Any, done: Any) -> None:
        if dst.dest is None:
            done(500)
            return
        local = self.wire.local_socket(dst.dest)
        if local is None:
            done(500)
            return
        settings = self.settings

        def build(branch: str) -> Any:
            return self.codec.make_probe(
                settings.ping_method, dst.uri, settings.ping_from, local, branch
            )

        def final(_stx: Any, response: Any) -> None:
            done(response.status if response is not None else 408)

        self.tm.send_local(settings.ping_method, dst.dest, build, on_final=final)
