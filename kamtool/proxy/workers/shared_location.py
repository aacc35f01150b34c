"""Registrations shared by the workers when there is no Redis: every change is copied.

Choice: a REGISTER handled by one worker must be found by an INVITE on another. Reading
``location`` for every INVITE (db_mode 3 semantics) would make each call pay a database
round trip, which is what issue #17 measured as the cost of today's scale-out. Instead the
worker that saves or removes a contact tells the others over the worker channel, and each
keeps the same in-memory table; a lookup stays a dict read.

The database stays the store of record as ``db_mode`` says, written once: by the worker
that handled the REGISTER; the copies are kept as synced
(:meth:`~kamtool.proxy.usrloc.LocationStore.mirror`). Expiry sweeps memory everywhere and
the database only from worker 0, the timer worker (``LocationStore(expires_in_db=False)``
elsewhere), so an expired contact is deleted once. A restarted worker reloads the table
(db_mode 1 and 2) and copies what worker 0 holds (:meth:`SharedLocation.snapshot`). db_mode
3 needs none of this: every worker reads the table.

:class:`SharedLocation` is the store's ``shared`` listener (``ul_changed``), the same
interface the Redis state backend implements (:mod:`kamtool.proxy.ul_replication`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from typing import Any

from kamtool.proxy.binding import Binding
from kamtool.proxy.workers.channel import LOCATION, Channel

log = logging.getLogger(__name__)

_FIELDS = {f.name for f in fields(Binding)} - {"state"}


def _encode(binding: Binding) -> dict[str, Any]:
    d = asdict(binding)
    d.pop("state", None)
    return d


def _decode(d: dict[str, Any]) -> Binding:
    return Binding(**{k: v for k, v in d.items() if k in _FIELDS})


class SharedLocation:
    """Copies one worker's usrloc changes to the others (see module docstring)."""

    # no remote store to wait for or to read on a miss (LocationReplication.up): the
    # copy has left before the REGISTER's 200
    news = 0
    up = False

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.store: Any = None
        self.copies_in = 0

    def serve(self, store: Any) -> None:
        """Apply the other workers' changes to ``store`` from now on."""
        self.store = store
        self.channel.on(LOCATION, self._received)

    def ul_changed(self, saved: Binding | None, deleted: list[Binding] | None) -> None:
        """The store's listener: a contact saved, or contacts deleted, here."""
        if saved is not None:
            change: dict[str, Any] = {"op": "save", "b": _encode(saved)}
        elif deleted:
            change = {"op": "del", "gone": [[b.aor, b.ruid] for b in deleted]}
        else:
            return
        self.channel.broadcast(LOCATION, json.dumps(change, separators=(",", ":")).encode())

    def _received(self, data: bytes) -> None:
        change = json.loads(data)
        self.copies_in += 1
        if change["op"] == "save":
            self.store.mirror(saved=[_decode(change["b"])])
        elif change["op"] == "del":
            self.store.mirror(removed=[(aor, ruid) for aor, ruid in change["gone"]])

    def snapshot(self) -> list[dict[str, Any]]:
        """Every live contact of this worker (a restarted worker's start-up copy)."""
        ul = self.store
        now = ul.clock()
        return [_encode(b) for aor in ul.aors() for b in ul.contacts_of(aor) if not b.expired(now)]

    def load_snapshot(self, rows: list[dict[str, Any]]) -> int:
        self.store.mirror(saved=[_decode(row) for row in rows])
        return len(rows)
