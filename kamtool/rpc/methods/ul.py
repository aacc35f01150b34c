"""``ul.*``: the location table (Kamailio usrloc's RPCs) over the proxy's location store.

Implemented by :class:`kamtool.proxy.usrloc.LocationStore`; tests use a fake. Shapes
follow ``rpc/ul.*.json``: ``ul.dump`` wraps everything in ``Domains``/``Domain``,
contacts are ``{"Contact": {...}}`` with Kamailio's keys in Kamailio's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from kamtool.core.hashes import core_hash
from kamtool.rpc.kamjson import LazyList, chunks_of
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["BindingLike", "Usrloc", "contact_info", "register"]

NOT_SET = "[not set]"
ALL_METHODS = 4294967295
TABLE_SIZE = 1024  # Kamailio's default hash_size (2^10): shown as "Size"
CHUNK = 200  # AoRs read and printed at a time by a streamed ul.dump


class BindingLike(Protocol):
    """What ``ul.*`` reads from a binding (:class:`kamtool.proxy.usrloc.Binding`)."""

    aor: str
    contact: str
    expires: float  # absolute unix time, 0 = permanent
    q: float  # -1 = not given
    callid: str
    cseq: int
    user_agent: str
    received: str | None
    path: str | None
    socket: str | None
    methods: int | None
    instance: str | None
    reg_id: int
    flags: int
    cflags: int
    ruid: str
    server_id: int
    connection_id: int
    keepalive: int
    last_modified: float
    state: str


class Usrloc(Protocol):
    """The location store as ``ul.*`` needs it (``LocationStore`` provides all of it).

    * ``aors()`` every AoR with a record, ``get(aor)`` its bindings or None when there
      is no record (an AoR whose contacts were all removed gives ``[]``);
    * ``add(binding)`` saves a hand-made binding (``ul.add``), ``remove(aor)`` drops every
      binding of an AoR, ``remove_contact(aor, uri)`` one (False when not found);
    * ``flush()`` writes pending changes to the database.

    Optional: ``snapshot()`` → ``{aor: [bindings]}`` for every record in one go. ``ul.dump``
    uses it when present, so a database-only store (db_mode 3) can answer with one query
    instead of one per AoR.
    """

    def aors(self) -> list[str]: ...
    def get(self, aor: str) -> list[Any] | None: ...
    def add(self, binding: Any) -> Any: ...
    def remove(self, aor: str) -> int: ...
    def remove_contact(self, aor: str, contact: str) -> bool: ...
    def flush(self) -> int: ...


def _text(value: str | None) -> str:
    return value if value else NOT_SET


def contact_info(b: BindingLike, now: float) -> dict[str, Any]:
    """One ``{"Contact": {...}}`` entry, keys in Kamailio's order."""
    if not b.expires:
        expires: int | str = "permanent"
    elif b.expires <= now:
        expires = "expired"
    else:
        # whole seconds on both sides, as Kamailio's time(NULL) arithmetic: a contact just
        # registered for 600 s shows 600, not 599 (the fraction already gone)
        expires = int(b.expires) - int(now)
    q = -1 if b.q is None or b.q < 0 else b.q  # -1: no q given
    return {
        "Contact": {
            "Address": b.contact,
            "Expires": expires,
            "Q": q,
            "Call-ID": b.callid,
            "CSeq": b.cseq,
            "User-Agent": b.user_agent,
            "Received": _text(b.received),
            "Path": _text(b.path),
            "State": b.state,
            "Flags": b.flags,
            "CFlags": b.cflags,
            "Socket": _text(b.socket),
            "Methods": ALL_METHODS if b.methods is None else b.methods,
            "Ruid": b.ruid,
            "Instance": _text(b.instance),
            "Reg-Id": b.reg_id,
            "Server-Id": b.server_id,
            "Tcpconn-Id": b.connection_id,
            "Keepalive": b.keepalive,
            "Last-Keepalive": int(b.last_modified),
            "KA-Roundtrip": 0,
            "Last-Modified": int(b.last_modified),
        }
    }


def aor_hash(aor: str) -> int:
    """``HashID``: Kamailio's core hash of the AoR, the number Kamailio shows."""
    return core_hash(aor)


def register(
    registry: Registry,
    usrloc: Usrloc,
    *,
    table: str = "location",
    clock: Callable[[], float] = time.time,
    make_binding: Callable[..., Any] | None = None,
) -> None:
    """Add ``ul.dump|lookup|rm|rm_contact|add|flush``.

    ``make_binding(**fields)`` builds a binding for ``ul.add``; default
    :class:`kamtool.proxy.usrloc.Binding`.
    """

    def check_table(name: str) -> None:
        if name != table:
            raise RpcFault(500, "Domain table not found")

    def fix_aor(aor: str) -> str:
        # As usrloc's RPCs: with use_domain 0 the AoR is the user part alone, so
        # `ul.add location 1001@host ...` files the contact under "1001", where a
        # REGISTER and lookup("location") put and find it; with use_domain the
        # domain is required.
        user, at, _domain = aor.partition("@")
        if getattr(usrloc, "use_domain", False):
            if not at:
                raise RpcFault(500, "Domain missing in AOR")
            return aor
        return user

    def in_order(bindings: list[Any], now: float) -> list[dict[str, Any]]:
        # highest q first, registration order among equals: the order lookup() forks in
        # (as usrloc keeps a record's contacts)
        ordered = sorted(bindings, key=lambda b: b.q_sort_key(), reverse=True)
        return [contact_info(b, now) for b in ordered]

    def entry(aor: str, bindings: list[Any], now: float) -> dict[str, Any]:
        return {
            "Info": {"AoR": aor, "HashID": aor_hash(aor), "Contacts": in_order(bindings, now)}
        }

    def dump(mode: str | None = None) -> dict[str, Any]:
        # The AoRs are listed now; their contacts are read and printed CHUNK AoRs at a
        # time on the printing thread while the answer streams (kamjson.LazyList), so a
        # 100,000-contact dump never blocks SIP or sits whole in memory. An AoR removed
        # meanwhile is left out.
        now = clock()
        snapshot = getattr(usrloc, "snapshot", None)
        if mode == "brief":
            aors = usrloc.aors()
            entries = LazyList(lambda: ([{"AoR": a} for a in c] for c in chunks_of(aors, 2000)))
        elif snapshot is not None:  # a database-only store: one query for everything
            recs = snapshot()
            aors = list(recs)
            entries = LazyList(
                lambda: ([entry(a, recs[a], now) for a in c] for c in chunks_of(aors, CHUNK))
            )
        else:
            aors = usrloc.aors()

            def produce() -> Iterator[list[Any]]:
                for chunk in chunks_of(aors, CHUNK):
                    found = [(a, usrloc.get(a)) for a in chunk]
                    yield [entry(a, b, now) for a, b in found if b is not None]

            # db_mode 3 reads each AoR from the database: on the loop's connection
            entries = LazyList(produce, threaded=getattr(usrloc, "db_mode", 0) != 3)
        return {
            "Domains": [
                {
                    "Domain": {
                        "Domain": table,
                        "Size": TABLE_SIZE,
                        "AoRs": entries,
                        "Stats": {"Records": len(aors), "Max-Slots": 1 if aors else 0},
                    }
                }
            ]
        }

    def contacts_now() -> int:
        return usrloc.stats()[1]  # type: ignore[attr-defined]

    def lookup(name: str, aor: str) -> dict[str, Any]:
        check_table(name)
        aor = fix_aor(aor)
        bindings = usrloc.get(aor)
        if bindings is None:
            raise RpcFault(500, f"AOR not found in {table} table")
        if not bindings:
            raise RpcFault(500, "AOR has no contacts")
        now = clock()
        return {"AoR": aor, "Contacts": in_order(bindings, now)}

    def rm(name: str, aor: str) -> None:
        check_table(name)
        usrloc.remove(fix_aor(aor))  # unknown AoR: success, as in Kamailio

    def rm_contact(name: str, aor: str, contact: str) -> None:
        check_table(name)
        if not usrloc.remove_contact(fix_aor(aor), contact):
            raise RpcFault(404, "Contact not found")

    def add(
        name: str,
        aor: str,
        contact: str,
        expires: int,
        q: float,
        path: str,
        flags: int,
        cflags: int,
        methods: int,
    ) -> None:
        check_table(name)
        factory = make_binding
        if factory is None:
            from kamtool.proxy.usrloc import Binding

            factory = Binding
        now = clock()
        usrloc.add(
            factory(
                aor=fix_aor(aor),
                contact=contact,
                expires=now + expires if expires > 0 else 0,
                q=q,
                callid="dfjrewr12386fd6-343@kamailio.rpc",  # Kamailio's fixed ul.add Call-ID
                cseq=1,
                user_agent="kamtool - RPC Server",
                path=path or None,
                flags=flags,
                cflags=cflags,
                methods=None if methods == ALL_METHODS else methods,
                last_modified=now,
            )
        )

    def flush() -> None:
        usrloc.flush()

    lookup_missing = "Not enough parameters (table and AOR to lookup)"
    registry.add(
        "ul.dump",
        dump,
        "Dump user location tables.",
        Param("mode", "str", required=False),
        cost=contacts_now,
    )
    registry.add(
        "ul.lookup",
        lookup,
        "Lookup one AOR in the usrloc location table.",
        Param("table"),
        Param("aor"),
        missing=lookup_missing,
    )
    registry.add(
        "ul.rm",
        rm,
        "Delete AOR from usrloc location table.",
        Param("table"),
        Param("aor"),
        missing="Not enough parameters (table and AOR)",
    )
    registry.add(
        "ul.rm_contact",
        rm_contact,
        "Delete a contact from an AOR record.",
        Param("table"),
        Param("aor"),
        Param("contact"),
        missing="Not enough parameters (table, AOR and contact)",
    )
    registry.add(
        "ul.add",
        add,
        "Add a new contact for an address of record.",
        Param("table"),
        Param("aor"),
        Param("contact"),
        Param("expires", "int", min=0, max=2**31 - 1),
        Param("q", "number"),
        Param("path"),
        Param("flags", "int"),
        Param("cflags", "int"),
        Param("methods", "int", min=0, max=ALL_METHODS),
    )
    registry.add("ul.flush", flush, "Flush cache in database.")
