"""usrloc's data: one contact of an AoR (:class:`Binding`, Kamailio's ``ucontact``), the
writes a deferred store still owes the database (:class:`Batch`), contact states and the
method bits of the ``methods`` column. Kept apart from the store (:mod:`kamtool.proxy.usrloc`)
so the registrar and the RPC methods can use them without the store's machinery."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

# ucontact states as ul.dump prints them
CS_NEW, CS_SYNC, CS_DIRTY = "CS_NEW", "CS_SYNC", "CS_DIRTY"
ALL_METHODS = 4294967295  # methods NULL in the DB: every method


# bit numbers of Kamailio's method_type_t, for usrloc's methods column (method filtering)
METHOD_BITS = {
    "INVITE": 1,
    "CANCEL": 2,
    "ACK": 4,
    "BYE": 8,
    "INFO": 16,
    "REGISTER": 32,
    "SUBSCRIBE": 64,
    "NOTIFY": 128,
    "MESSAGE": 256,
    "OPTIONS": 512,
    "PRACK": 1024,
    "UPDATE": 2048,
    "REFER": 4096,
    "PUBLISH": 8192,
}


@dataclass(slots=True)
class Binding:
    """One contact of an AoR (Kamailio's ``ucontact``), with the ``location`` columns."""

    aor: str
    contact: str
    expires: float  # absolute unix time; 0 = permanent
    q: float = -1.0  # -1: no q given
    callid: str = ""
    cseq: int = 0
    user_agent: str = ""
    received: str | None = None
    path: str | None = None
    socket: str | None = None
    methods: int | None = None  # None (NULL) = all methods
    instance: str | None = None
    reg_id: int = 0
    flags: int = 0
    cflags: int = 0
    ruid: str = ""
    server_id: int = 0
    connection_id: int = -1
    keepalive: int = 0
    last_modified: float = 0.0
    domain: str | None = None
    state: str = field(default=CS_NEW, compare=False)

    def expired(self, now: float) -> bool:
        return self.expires != 0 and self.expires <= now

    def q_sort_key(self) -> float:
        """q for ordering: an absent q counts as 1.0 (RFC 3261 default for forking)."""
        return 1.0 if self.q < 0 else self.q

    @property
    def username(self) -> str:
        return self.aor.split("@", 1)[0]


@dataclass(slots=True)
class Batch:
    """What the database still needs from a deferred store (see :meth:`LocationStore.take_pending`).

    ``deletes``: ruids to delete; ``upserts``: contacts to write (modes 1 and 2);
    ``ops``: db_mode 3 statements in order (``("save", Binding)``, ``("delete", [ruid])``,
    ``("expire", now)``).
    """

    deletes: list[str] = field(default_factory=list)
    upserts: list[Binding] = field(default_factory=list)
    ops: list[tuple[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.deletes) + len(self.upserts) + len(self.ops)


def copy_binding(b: Binding, **changes: Any) -> Binding:
    """A modified copy of ``b`` (bindings in the store are never changed in place)."""
    return replace(b, **changes)
