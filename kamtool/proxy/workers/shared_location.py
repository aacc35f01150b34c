"""Registrations shared by the workers when there is no Redis: every change is copied.

Choice: a REGISTER handled by one worker must be found by an INVITE on another. Reading
``location`` for every INVITE (db_mode 3 semantics) would make each call pay a database
round trip, which is what issue #17 measured as the cost of today's scale-out. Instead the
worker that saves or removes a contact tells the others over the worker channel, and each
keeps the same in-memory table; a lookup stays a dict read.

The database stays the store of record as ``db_mode`` says, written once: by the worker
that handled the REGISTER (its own store marks the contact new or dirty); the copies are
marked synced. Expiry sweeps memory everywhere, and the database only from worker 0 (the
timer worker), so an expired contact is deleted once. A restarted worker reloads the table
(db_mode 1 and 2) and asks worker 0 for what the database does not have yet
(:meth:`SharedLocation.snapshot`). db_mode 3 needs none of this: every worker reads the
table.

The copy is applied to the store's records directly (not through ``save``) so it is
neither written to the database nor sent on again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields
from typing import Any

from kamtool.proxy.binding import CS_SYNC, Binding
from kamtool.proxy.workers.channel import Channel

log = logging.getLogger(__name__)

UL = b"U"  # channel kind
_FIELDS = {f.name for f in fields(Binding)} - {"state"}


def _encode(binding: Binding) -> dict[str, Any]:
    d = asdict(binding)
    d.pop("state", None)
    return d


def _decode(d: dict[str, Any]) -> Binding:
    b = Binding(**{k: v for k, v in d.items() if k in _FIELDS})
    b.state = CS_SYNC  # written by the worker that saved it
    return b


class SharedLocation:
    """Copies one worker's usrloc changes to the others (see module docstring)."""

    def __init__(self, ul: Any, channel: Channel, *, writes_expiry: bool) -> None:
        self.ul = ul
        self.channel = channel
        self.copies_in = 0
        channel.on(UL, self._received)
        save, delete = ul.save, ul._delete

        def shared_save(binding: Binding) -> Binding:
            saved = save(binding)
            self._send({"op": "save", "b": _encode(saved)})
            return saved

        def shared_delete(bindings: list[Binding]) -> None:
            delete(bindings)
            if bindings:
                self._send({"op": "del", "gone": [[b.aor, b.ruid] for b in bindings]})

        # instance attributes: the store's own calls (add -> save, remove -> _delete)
        # and the registrar's reach these
        ul.save, ul._delete = shared_save, shared_delete
        if not writes_expiry:
            ul.timer = self.expire_in_memory

    def _send(self, change: dict[str, Any]) -> None:
        self.channel.broadcast(UL, json.dumps(change, separators=(",", ":")).encode())

    def _received(self, data: bytes) -> None:
        change = json.loads(data)
        self.copies_in += 1
        if change["op"] == "save":
            self.apply_save(_decode(change["b"]))
        elif change["op"] == "del":
            self.apply_delete([(aor, ruid) for aor, ruid in change["gone"]])

    def apply_save(self, b: Binding) -> None:
        records = self.ul._records
        rec = records.setdefault(b.aor, [])
        for i, old in enumerate(rec):
            if old.ruid == b.ruid:
                rec[i] = b
                return
        rec.append(b)

    def apply_delete(self, gone: list[tuple[str, str]]) -> None:
        records = self.ul._records
        for aor in {aor for aor, _ in gone}:
            rec = records.get(aor)
            if rec is None:
                continue
            ruids = {ruid for a, ruid in gone if a == aor}
            rec[:] = [b for b in rec if b.ruid not in ruids]
            if not rec:
                del records[aor]

    def expire_in_memory(self) -> None:
        """The timer of a worker other than 0: expired contacts leave memory only (worker
        0 deletes them from the database; its own unwritten ones are written first)."""
        ul = self.ul
        now = ul.clock()
        for aor in list(ul._records):
            rec = ul._records[aor]
            live = [b for b in rec if not b.expired(now)]
            if len(live) != len(rec):
                ul.expired_total += len(rec) - len(live)
                rec[:] = live
            if not rec:
                del ul._records[aor]

    def snapshot(self) -> list[dict[str, Any]]:
        """Every live contact of this worker (a restarted worker's start-up copy)."""
        now = self.ul.clock()
        return [_encode(b) for rec in self.ul._records.values() for b in rec if not b.expired(now)]

    def load_snapshot(self, rows: list[dict[str, Any]]) -> int:
        for row in rows:
            self.apply_save(_decode(row))
        return len(rows)
