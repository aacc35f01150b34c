"""``dispatcher.*`` over the proxy's dispatcher (Kamailio dispatcher module RPCs).

Shapes follow ``rpc/dispatcher.*.json``: sets in reverse order of the set id, ``FLAGS``
two letters (A/I/D/T then P/X), ``ATTRS`` only when the destination has attributes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from kamtool.rpc.methods import Param, Registry, RpcFault
from kamtool.rpc.methods.reload_guard import RELOAD_DELTA, ReloadGuard

__all__ = ["Dispatcher", "parse_attrs", "register"]


class Dispatcher(Protocol):
    """What ``dispatcher.*`` needs.

    * ``sets()`` → ``{set_id: [destination, ...]}``; a destination has ``uri``,
      ``flags`` (state letters such as ``"AP"``: A active, I inactive, D disabled,
      T trying; then P probing or X not), ``priority`` (int) and ``attrs`` (raw
      attribute string, ``""`` when none);
    * ``reload()`` re-reads the destinations from the database;
    * ``set_state(state, set_id, uri)`` with ``state`` one of a/i/d/t plus an optional
      ``p`` (lower case), ``uri`` a destination or ``"all"``; False when nothing matched;
    * ``ping_active`` (bool attribute): whether OPTIONS probing runs.
    """

    ping_active: bool

    def sets(self) -> dict[int, list[Any]]: ...
    def reload(self) -> None: ...
    def set_state(self, state: str, set_id: int, uri: str) -> bool: ...


def parse_attrs(body: str) -> dict[str, Any]:
    """Kamailio's ``ATTRS`` object for an attribute string like ``weight=50;duid=gw1``."""
    fields: dict[str, str] = {}
    for part in body.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()

    def num(key: str) -> int:
        try:
            return int(fields.get(key, "0"))
        except ValueError:
            return 0

    return {
        "BODY": body,
        "DUID": fields.get("duid"),
        "MAXLOAD": num("maxload"),
        "WEIGHT": num("weight"),
        "RWEIGHT": num("rweight"),
        "SOCKET": fields.get("socket"),
        "SOCKNAME": fields.get("sockname"),
        "OBPROXY": fields.get("obproxy"),
    }


def register(
    registry: Registry,
    dispatcher: Dispatcher,
    *,
    reload_delta: float = RELOAD_DELTA,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Add ``dispatcher.list|reload|set_state|ping_active``."""
    refuse_too_soon = ReloadGuard("Ongoing reload", reload_delta, clock)

    def list_sets() -> dict[str, Any]:
        sets = dispatcher.sets()
        records = []
        for set_id in sorted(sets, reverse=True):
            targets = []
            for dst in sets[set_id]:
                dest: dict[str, Any] = {
                    "URI": dst.uri,
                    "FLAGS": dst.flags,
                    "PRIORITY": dst.priority,
                }
                if dst.attrs:
                    dest["ATTRS"] = parse_attrs(dst.attrs)
                targets.append({"DEST": dest})
            records.append({"SET": {"ID": set_id, "TARGETS": targets}})
        return {"NRSETS": len(sets), "RECORDS": records}

    def reload() -> str:
        refuse_too_soon()
        try:
            dispatcher.reload()
        except Exception as exc:
            raise RpcFault(500, "Dispatcher reload failed") from exc
        return "Ok. Dispatcher successfully reloaded."

    def set_state(state: str, set_id: int, uri: str) -> str:
        letters = state.lower()
        if not letters or letters[0] not in "aidt" or letters[1:] not in ("", "p"):
            raise RpcFault(500, "Bad state value")
        if not dispatcher.set_state(letters, set_id, uri):
            raise RpcFault(500, "State Update Failed")
        return "Ok. Dispatcher state updated."

    def ping_active(value: int | None = None) -> dict[str, int]:
        # Kamailio's answer: the state before, and the new one when one was given
        old = int(dispatcher.ping_active)
        if value is None:
            return {"OldPingState": old}
        dispatcher.ping_active = bool(value)
        return {"NewPingState": value, "OldPingState": old}

    registry.add("dispatcher.list", list_sets, "Return the content of dispatcher sets.")
    registry.add("dispatcher.reload", reload, "Reload dispatcher destination sets.")
    registry.add(
        "dispatcher.set_state", set_state, "Set the state of a destination address.",
        Param("state"), Param("group", "int"), Param("address"), missing="Invalid Parameters",
    )  # fmt: skip
    registry.add(
        "dispatcher.ping_active", ping_active, "Get or set the global pinging state.",
        Param("value", "int", required=False),
    )  # fmt: skip
