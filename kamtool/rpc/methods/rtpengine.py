"""``rtpengine.show``, ``rtpengine.ping`` and ``rtpengine.enable`` over the proxy's
RTPEngine set (:class:`kamtool.proxy.rtpengine.RtpEngine`), answered as Kamailio's
rtpengine module answers them."""

from __future__ import annotations

from typing import Any

from kamtool.errors import BadInput
from kamtool.proxy.rtpengine import RtpEngine
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["register"]


def register(registry: Registry, engines: RtpEngine) -> None:
    def _named(call: Any) -> Any:
        try:
            return call()
        except BadInput:
            raise RpcFault(404, "Instance not found") from None

    def show(url: str) -> list[dict[str, Any]]:
        return _named(lambda: engines.show(url))

    async def ping(url: str) -> dict[str, str]:
        _named(lambda: engines.show(url))  # an unknown URL is a fault before any ping
        return await engines.ping_nodes(url)

    async def enable(url: str, flag: int) -> dict[str, str]:
        _named(lambda: engines.show(url))
        return await engines.enable(url, bool(flag))

    missing = "Not enough parameters"
    url = Param("url")
    registry.add("rtpengine.show", show, "rtpengine.show URL|all: the RTPEngine nodes.", url,
                 missing=missing)  # fmt: skip
    registry.add("rtpengine.ping", ping, "rtpengine.ping URL|all: ping RTPEngine nodes.", url,
                 missing=missing)  # fmt: skip
    registry.add(
        "rtpengine.enable",
        enable,
        "rtpengine.enable URL|all 0|1: switch RTPEngine nodes off, or on after a ping.",
        url,
        Param("flag", "int"),
        missing=missing,
    )
