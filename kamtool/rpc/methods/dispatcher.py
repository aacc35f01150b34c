"""``dispatcher.*`` over the proxy's dispatcher (Kamailio dispatcher module RPCs).

Shapes follow ``rpc/dispatcher.*.json``: sets in the order ``sets()`` gives them (the
proxy's dispatcher keeps Kamailio's print order), ``FLAGS`` two letters (I/D/T/A then
P/X), ``ATTRS`` only when the destination has attributes; no sets at all is Kamailio's
fault 500 "No Destination Sets". ``set_state`` takes Kamailio's states (``a``, ``ip``,
``1``, ``0p`` ...) and, for ``all``, answers Ok even for a set that does not exist, as
Kamailio does. ``ping_active`` answers ``{"OldPingState": n}`` (and ``NewPingState`` when
setting), the keys of Kamailio's dispatcher.c.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from kamtool.proxy.dispatcher import canonical_state
from kamtool.rpc.methods import Param, Registry, RpcFault
from kamtool.rpc.methods.reload_guard import RELOAD_DELTA, ReloadGuard

__all__ = ["Dispatcher", "parse_attrs", "register"]


class Dispatcher(Protocol):
    """What ``dispatcher.*`` needs.

    * ``sets()`` → ``{set_id: [destination, ...]}`` in listing order; a destination has
      ``uri``, ``flags`` (state letters such as ``"AP"``: A active, I inactive, D disabled,
      T trying; then P probing or X not), ``priority`` (int) and ``attrs`` (raw
      attribute string, ``""`` when none);
    * ``reload()`` re-reads the destinations from the database;
    * ``set_state(state, set_id, uri)`` with ``state`` one of a/i/d/t plus an optional
      ``p`` (lower case; never ``dp``), ``uri`` a destination or ``"all"``; False when
      nothing matched;
    * ``ping_active`` (bool attribute): whether OPTIONS probing runs.
    """

    ping_active: bool

    def sets(self) -> dict[int, list[Any]]: ...
    def reload(self) -> None: ...
    def set_state(self, state: str, set_id: int, uri: str) -> bool: ...


def parse_attrs(body: str) -> dict[str, Any]:
    """Kamailio's ``ATTRS`` object for an attribute string like ``weight=50;duid=gw1``
    (read as the module reads it: a weight out of 1..100 is 0, a trailing ``;`` dropped)."""
    from kamtool.core.dispatch.attrs import parse_attrs as read

    a = read(body)
    return {
        "BODY": a.body,
        "DUID": a.duid or None,
        "MAXLOAD": a.maxload,
        "WEIGHT": a.weight,
        "RWEIGHT": a.rweight,
        "SOCKET": a.socket or None,
        "SOCKNAME": a.sockname or None,
        "OBPROXY": a.obproxy or None,
    }


# Kamailio's proto ids (PROTO_NONE 0 when the URI names no transport)
_PROTO_IDS = {"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}


def _full_fields(dst: Any) -> dict[str, Any]:
    """``dispatcher.list full``'s extra keys: host and port as written in the URI (0 when
    absent), the address it resolved to, the transport id, when it was resolved."""
    resolved = getattr(dst, "dest", None)
    loaded = float(getattr(dst, "resolved_at", 0.0))
    return {
        "HOST": getattr(dst, "host", ""),
        "IPADDR": resolved[1] if resolved else "",
        "PORT": getattr(dst, "port", 0),
        "PROTOID": _PROTO_IDS.get(getattr(dst, "transport", ""), 0),
        "DNSTIME_SEC": int(loaded),
        "DNSTIME_USEC": int((loaded % 1) * 1_000_000),
    }


def _runtime_fields(dispatcher: Any, dst: Any) -> dict[str, Any]:
    """``LATENCY`` (with ``ds_ping_latency_stats``) and ``RUNTIME`` (``ds_hash_size`` > 0),
    as Kamailio adds them."""
    settings = getattr(dispatcher, "settings", None)
    out: dict[str, Any] = {}
    if getattr(settings, "latency_stats", False) and hasattr(dst, "latency"):
        out["LATENCY"] = dst.latency.as_rpc()
    if getattr(settings, "hash_size", 0) > 0 and hasattr(dst, "dload"):
        out["RUNTIME"] = {"DLGLOAD": dst.dload}
    return out


def register(
    registry: Registry,
    dispatcher: Dispatcher,
    *,
    reload_delta: float = RELOAD_DELTA,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Add ``dispatcher.list|reload|set_state|ping_active|hash``."""
    refuse_too_soon = ReloadGuard("Ongoing reload", reload_delta, clock)

    def list_sets(mode: str = "") -> dict[str, Any]:
        sets = dispatcher.sets()
        if not sets:
            raise RpcFault(500, "No Destination Sets")
        mode = mode.lower()
        records = []
        for set_id in sets:
            targets = []
            for dst in sets[set_id]:
                dest: dict[str, Any] = {
                    "URI": dst.uri,
                    "FLAGS": dst.flags,
                    "PRIORITY": dst.priority,
                }
                if mode == "full":
                    dest.update(_full_fields(dst))
                if dst.attrs and mode != "short":
                    dest["ATTRS"] = parse_attrs(dst.attrs)
                dest.update(_runtime_fields(dispatcher, dst))
                targets.append({"DEST": dest})
            records.append({"SET": {"ID": set_id, "TARGETS": targets}})
        return {"NRSETS": len(sets), "RECORDS": records}

    def reload() -> str:
        refuse_too_soon()
        try:
            dispatcher.reload()
        except Exception as exc:
            raise RpcFault(500, "Reload Failed") from exc
        return "Ok. Dispatcher successfully reloaded."

    def set_state(state: str, set_id: int, uri: str, *, by_duid: bool = False) -> str:
        if not state:
            raise RpcFault(500, "Invalid State Parameter")
        letters = canonical_state(state)
        if letters is None:
            raise RpcFault(500, "Unknown State Value")
        change = dispatcher.set_duid_state if by_duid else dispatcher.set_state
        if not change(letters, set_id, uri) and uri != "all":
            raise RpcFault(500, "State Update Failed")
        return "Ok. Dispatcher state updated."

    def set_duid_state(state: str, set_id: int, duid: str) -> str:
        return set_state(state, set_id, duid, by_duid=True)

    def hash_value(nslots: int, val1: str, val2: str | None = None) -> dict[str, int]:
        from kamtool.core.dispatch.hashing import ds_hash

        hashid = ds_hash(str(val1), None if val2 is None else str(val2))
        return {"hashid": hashid, "slot": hashid % nslots if nslots > 0 else 0}

    def ping_active(value: int | None = None) -> dict[str, int]:
        # Kamailio's answer: the state before, and the new one when one was given
        old = int(dispatcher.ping_active)
        if value is None:
            return {"OldPingState": old}
        dispatcher.ping_active = bool(value)
        return {"NewPingState": value, "OldPingState": old}

    registry.add(
        "dispatcher.list", list_sets, "Return the content of dispatcher sets.",
        Param("mode", required=False, default=""),
    )  # fmt: skip
    registry.add("dispatcher.reload", reload, "Reload dispatcher destination sets.")
    registry.add(
        "dispatcher.hash", hash_value, "Compute the hash id and slot of the values.",
        Param("nslots", "int"), Param("val1"), Param("val2", required=False),
        missing="Invalid Parameters",
    )  # fmt: skip
    registry.add(
        "dispatcher.set_state", set_state, "Set the state of a destination address.",
        Param("state"), Param("group", "int"), Param("address"), missing="Invalid Parameters",
    )  # fmt: skip
    if hasattr(dispatcher, "set_duid_state"):
        registry.add(
            "dispatcher.set_duid_state", set_duid_state,
            "Set the state of a destination by its duid attribute.",
            Param("state"), Param("group", "int"), Param("duid"), missing="Invalid Parameters",
        )  # fmt: skip
    registry.add(
        "dispatcher.ping_active", ping_active, "Get or set the global pinging state.",
        Param("value", "int", required=False),
    )  # fmt: skip
