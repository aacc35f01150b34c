"""``siptrace.status`` (as Kamailio's siptrace module) and kamtool's ``siptrace.dest_add``
/ ``siptrace.dest_rm`` over the proxy's HEP agent (:class:`kamtool.proxy.hep.HepAgent`)."""

from __future__ import annotations

from typing import Any, Protocol

from kamtool.errors import ConfigError
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["Tracer", "register"]


class Tracer(Protocol):
    """``trace_on``, ``set_on(bool)``, ``add(uri)``, ``remove(uri) -> bool``,
    ``destinations``."""

    trace_on: bool
    destinations: list[str]

    def set_on(self, on: bool) -> None: ...

    def add(self, uri: str) -> None: ...

    def remove(self, uri: str) -> bool: ...


def register(registry: Registry, tracer: Tracer) -> None:
    def status(mode: str | None = None) -> str:
        # Kamailio compares the first letters only (strncasecmp with the keyword's
        # length): "onwards" means on, "checked" check; we keep that.
        if mode is None:
            raise RpcFault(500, "Not enough parameters (on, off or check)")
        word = mode.lower()
        if word.startswith("on"):
            tracer.set_on(True)
            return "Enabled"
        if word.startswith("off"):
            tracer.set_on(False)
            return "Disabled"
        if word.startswith("check"):
            return "Enabled" if tracer.trace_on else "Disabled"
        raise RpcFault(500, "Bad parameter (on, off or check)")

    def dest_add(uri: str) -> dict[str, Any]:
        try:
            tracer.add(uri)
        except ConfigError as exc:
            raise RpcFault(500, f"Bad destination: {exc}") from exc
        return {"destinations": tracer.destinations}

    def dest_rm(uri: str) -> dict[str, Any]:
        try:
            removed = tracer.remove(uri)
        except ConfigError as exc:
            raise RpcFault(500, f"Bad destination: {exc}") from exc
        if not removed:
            raise RpcFault(404, "Destination not found")
        return {"destinations": tracer.destinations}

    registry.add(
        "siptrace.status",
        status,
        "Get status or turn on/off siptrace. Parameters: on, off or check.",
        Param("mode", required=False),
    )
    registry.add(
        "siptrace.dest_add",
        dest_add,
        "kamtool: also send HEP to udp:IP:PORT (kamtool trace; until siptrace.dest_rm).",
        Param("uri"),
    )
    registry.add(
        "siptrace.dest_rm",
        dest_rm,
        "kamtool: stop sending HEP to a destination added with siptrace.dest_add.",
        Param("uri"),
    )
