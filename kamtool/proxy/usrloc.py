"""The location store (Kamailio's usrloc): AoR → contact bindings, in memory and/or DB.

``db_mode`` has Kamailio's meaning:

* 0: memory only;
* 1: write-through: every change is written to ``location`` before the REGISTER is
  answered, so an acknowledged registration survives a crash. While the write fails
  (the database is away) the REGISTER gets 503 with ``Retry-After`` (the registrar's
  part, :mod:`kamtool.proxy.ksr.registrar`); the contact stays in memory, pending, and
  is written when the database is back. Kamailio answers 200 then (its write-through
  only logs the failed insert), so a crash loses what it acknowledged; ``[proxy]
  usrloc_ack_unstored = true`` gives that behaviour;
* 2: write-back: changes are marked dirty and written every ``timer_interval`` seconds and
  at shutdown (:meth:`LocationStore.flush`);
* 3: database only: nothing is cached, every lookup reads ``location`` (several proxies
  can share one table).

Modes 1 and 2 load the table at start. Rows look exactly like the ones Kamailio writes
(ruid ``uloc-…``, ``q = -1`` when the contact had no q, ``methods`` NULL for "all",
``connection_id -1`` for UDP, ``socket`` ``udp:IP:port``), so a Kamailio started on the
same database sees them and we see Kamailio's.

Read API (used by the JSON-RPC ``ul.*`` methods): :meth:`aors`, :meth:`contacts_of`,
:meth:`get`, :meth:`add`, :meth:`remove`, :meth:`remove_contact`, :meth:`flush`,
:meth:`stats`. Times are unix seconds (floats); ``Binding.expires == 0`` means permanent.

Database calls are synchronous (peewee). In the proxy they run on the database worker
thread (:mod:`kamtool.proxy.dbworker`), never on the event loop: the store is then
``deferred``: a change only updates memory and marks what the database still needs
(dirty contacts, ruids to delete, db_mode 3 statements); :meth:`take_pending` hands
that to the worker as a batch (:meth:`write_batch`), and :meth:`batch_written` marks the
contacts synced, or, when the database was away, keeps everything for the next try:
nothing is lost while the database is down. db_mode 3 reads go through
:meth:`fetch`/:meth:`prefetched` (the route reads the AoR on the worker first).
Without ``deferred`` (tools, tests) every call writes at once, on the caller's thread.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from kamtool.proxy.binding import (  # noqa: F401  (re-exported: usrloc's public names)
    ALL_METHODS,
    CS_DIRTY,
    CS_NEW,
    CS_SYNC,
    METHOD_BITS,
    Batch,
    Binding,
    copy_binding,
)
from kamtool.proxy.expiry import ExpiryBuckets
from kamtool.proxy.ul_replication import LocationReplication
from kamtool.proxy.usrloc_rows import LocationTable, bound_model  # noqa: F401 (bound_model: used by others)

log = logging.getLogger(__name__)

# db_mode 1: the Retry-After (seconds) of the 503 a REGISTER gets while it cannot be stored
UNSTORED_RETRY_AFTER = 30


class LocationStore(LocationTable):
    """AoR → bindings with Kamailio's usrloc db_mode semantics (see module docstring)."""

    def __init__(
        self,
        *,
        db_mode: int = 0,
        database: Any = None,
        use_domain: bool = False,
        clock: Callable[[], float] = time.time,
        server_id: int = 0,
        shared: LocationReplication | None = None,
        expires_in_db: bool = True,
    ) -> None:
        if db_mode and database is None:
            raise ValueError("db_mode 1-3 needs a database")
        self.db_mode = db_mode
        self.database = database
        self.use_domain = use_domain
        self.clock = clock
        self.server_id = server_id
        self._records: dict[str, list[Binding]] = {}
        # kept up to date by every change (modes 0-2), so neither the timer nor stats()
        # nor the write-back walks every contact (100k contacts: 0.2 s of a held loop)
        self._expiry = ExpiryBuckets()  # ruid -> AoR, by expiry second
        self._dirty: dict[str, Binding] = {}  # write-back: ruid -> contact to write
        self._empty: set[str] = set()  # AoRs whose emptied record waits for the timer
        self._flagged: dict[str, str] = {}  # ruid -> AoR of contacts with NAT flags
        self._contacts = 0
        self._deleted: list[str] = []  # ruids to delete at the next flush (write-back)
        self.deferred = False  # the proxy: database work is left to the worker thread
        self._ops: list[tuple[str, Any]] = []  # deferred db_mode 3 statements, in order
        self._fetched: dict[str, list[Binding]] = {}  # deferred db_mode 3: rows read first
        self.changed: Callable[[], None] | None = None  # deferred: called after a change
        self.shared = shared  # ul_changed(saved, deleted) of every change (modes 0-2)
        self.expires_in_db = expires_in_db  # False: the timer expires memory only
        self.db_counts = (0, 0)  # deferred db_mode 3: stats() as of the last count_rows()
        self.expired_total = 0  # contacts dropped by the timer (usrloc:location_expires)
        self._ruid = itertools.count(1)
        self._ruid_prefix = f"uloc-{int(time.time()):x}-{os.getpid():x}"
        self._model: Any = None

    def hand_over(self, changed: Callable[[], None]) -> None:
        """From now on the database is the proxy's worker thread's: the store only
        records what to write, and calls ``changed`` after each change so the worker is
        woken (the loads before serving read the table directly)."""
        self.deferred = True
        self.changed = changed

    def load(self) -> int:
        """Read the ``location`` table into memory (modes 1 and 2, at start). Returns rows."""
        if self.db_mode not in (1, 2):
            return 0
        self._records.clear()
        self._expiry.clear()
        self._dirty.clear()
        self._empty.clear()
        self._flagged.clear()
        rows = self._db_select()
        for b in rows:
            self._records.setdefault(b.aor, []).append(b)
            self._expiry.add(b.ruid, b.aor, b.expires)
            if b.cflags or b.keepalive:
                self._flagged[b.ruid] = b.aor
        self._contacts = len(rows)
        return len(rows)

    # ---------------------------------------------------------------- ids

    def new_ruid(self) -> str:
        """A record unique id in Kamailio's format (``uloc-<time>-<pid>-<n>``)."""
        return f"{self._ruid_prefix}-{next(self._ruid)}"

    def aor_key(self, user: str, domain: str | None) -> str:
        """The AoR string: the user, or ``user@domain`` with use_domain."""
        return f"{user}@{domain}" if self.use_domain and domain else user

    # ---------------------------------------------------------------- reads

    def fetch(self, aor: str) -> list[Binding]:
        """db_mode 3: read the bindings of ``aor`` (on the worker thread, when deferred);
        hand them to :meth:`prefetched` on the loop."""
        return self._db_select(aor)

    def prefetched(self, aor: str, bindings: list[Binding] | None) -> None:
        """db_mode 3, deferred: the rows :meth:`fetch` read, for the reads of the routing
        step that follows; None when the step is over."""
        if bindings is None:
            self._fetched.pop(aor, None)
        else:
            self._fetched[aor] = bindings

    def needs_fetch(self, aor: str) -> bool:
        """True when reading ``aor`` needs a database round trip first (deferred db_mode 3)."""
        return self.deferred and self.db_mode == 3 and aor not in self._fetched

    def aors(self) -> list[str]:
        """Every AoR with a record (``ul.dump``), in insertion order."""
        if self.db_mode == 3:
            seen: dict[str, None] = {}
            for b in self._db_select():
                seen.setdefault(b.aor, None)
            return list(seen)
        return list(self._records)

    def contacts_of(self, aor: str) -> list[Binding]:
        """All bindings of ``aor`` (expired ones included until the timer purges them)."""
        if self.db_mode == 3:
            return self._db3_read(aor)
        return list(self._records.get(aor, ()))

    def get(self, aor: str) -> list[Binding] | None:
        """Bindings of ``aor``, or None when there is no record at all (``ul.lookup``)."""
        if self.db_mode == 3:
            found = self._db3_read(aor)
            return found or None
        rec = self._records.get(aor)
        return None if rec is None else list(rec)

    def _db3_read(self, aor: str) -> list[Binding]:
        found = self._fetched.get(aor)
        if found is None:
            # not read ahead: the RPC ul.* methods, which read on the caller's thread
            return self._db_select(aor)
        return list(found)

    def lookup(self, aor: str) -> list[Binding]:
        """Live bindings of ``aor``, highest q first (registration order among equals)."""
        now = self.clock()
        live = [b for b in self.contacts_of(aor) if not b.expired(now)]
        live.sort(key=Binding.q_sort_key, reverse=True)
        return live

    def flagged(self) -> list[Binding]:
        """Live bindings with NAT flags (``cflags`` or ``keepalive`` set): what the NAT
        keepalive pings, found without walking every contact (db_mode 3 reads them all)."""
        now = self.clock()
        if self.db_mode == 3:  # one query (was one per AoR)
            rows = self._db_select()
            return [b for b in rows if (b.cflags or b.keepalive) and not b.expired(now)]
        out = []
        for ruid, aor in self._flagged.items():
            for b in self._records.get(aor, ()):
                if b.ruid == ruid and not b.expired(now):
                    out.append(b)
        return out

    def stats(self) -> tuple[int, int]:
        """``(registered_users, location_contacts)`` for the usrloc statistics; deferred
        db_mode 3 gives the counts :meth:`count_rows` made last (statistics are read on
        the loop, by every ``stats`` and metrics request)."""
        if self.db_mode == 3:
            return self.db_counts if self.deferred else self.count_rows()
        return len(self._records) - len(self._empty), self._contacts

    def count_rows(self) -> tuple[int, int]:
        """db_mode 3: ``(users, contacts)`` in the table (any thread)."""
        rows = self._db_select()
        return len({b.aor for b in rows}), len(rows)

    # ---------------------------------------------------------------- writes

    def save(self, binding: Binding, *, stored: bool = False) -> Binding:
        """Insert or refresh ``binding`` (matched by ruid when set, else by contact URI);
        ``stored``: a copy of what another worker or node saved (see :meth:`mirror`)."""
        if not stored:
            binding.last_modified = self.clock()
            binding.server_id = self.server_id
        if not binding.ruid:
            binding.ruid = self.new_ruid()
        if self.db_mode == 3:
            if not self.deferred:
                self._db_update(binding)
                return binding
            self._ops.append(("save", binding))
            seen = self._fetched.get(binding.aor)
            if seen is not None:  # the reply of this REGISTER lists it
                seen[:] = [b for b in seen if b.ruid != binding.ruid] + [binding]
            self._notify()
            return binding
        aor, ruid = binding.aor, binding.ruid
        rec = self._records.get(aor)
        if rec is None:
            rec = self._records[aor] = []
        elif not rec:
            self._empty.discard(aor)
        for i, old in enumerate(rec):
            if old.ruid == ruid:
                binding.state = CS_DIRTY if old.state != CS_NEW else CS_NEW
                rec[i] = binding
                self._expiry.remove(ruid, old.expires)
                break
        else:
            binding.state = CS_NEW
            rec.append(binding)
            self._contacts += 1
        self._expiry.add(ruid, aor, binding.expires)
        if binding.cflags or binding.keepalive:
            self._flagged[ruid] = aor
        else:
            self._flagged.pop(ruid, None)
        if stored:  # written where it was saved
            binding.state = CS_SYNC
            self._dirty.pop(ruid, None)
            return binding
        if self.db_mode == 1 and not self.deferred:
            self._db_update(binding)
            binding.state = CS_SYNC
        elif self.db_mode:  # (a contact of db_mode 0 is never written)
            self._dirty[ruid] = binding
        self._notify(binding)
        return binding

    def _notify(self, saved: Binding | None = None, deleted: list[Binding] | None = None) -> None:
        if self.shared is not None:
            self.shared.ul_changed(saved, deleted)
        if self.deferred and self.changed is not None:
            self.changed()

    def add(self, binding: Binding) -> Binding:
        """``ul.add``: save a binding made by hand (ruid prefix ``ulcx``)."""
        if not binding.ruid:
            binding.ruid = self.new_ruid().replace("uloc-", "ulcx-", 1)
        existing = [b for b in self.contacts_of(binding.aor) if b.contact == binding.contact]
        if existing:
            binding.ruid = existing[0].ruid
        return self.save(binding)

    def remove_contact(self, aor: str, contact: str) -> bool:
        """Remove one binding by its contact URI; False when not found."""
        for b in self.contacts_of(aor):
            if b.contact == contact:
                self._delete([b])
                return True
        return False

    def remove_binding(self, binding: Binding) -> None:
        """Remove one binding (by ruid)."""
        self._delete([binding])

    def remove(self, aor: str) -> int:
        """``ul.rm``: remove every binding of ``aor``; the record goes with them, except in
        write-back mode while deleted contacts wait for the timer to leave the DB."""
        found = self.contacts_of(aor)
        self._delete(found)
        return len(found)

    def mirror(
        self, saved: Iterable[Binding] = (), removed: Iterable[tuple[str, str]] = ()
    ) -> None:
        """What another worker or node saved and removed (``(aor, ruid)``) and stored:
        memory only (db_mode 0-2), nothing written, ``shared`` not told."""
        for b in saved if self.db_mode != 3 else ():
            self.save(b, stored=True)
        gone = {ruid for _, ruid in removed}
        aors = {aor for aor, _ in removed} if self.db_mode != 3 else ()
        found = [b for aor in aors for b in self._records.get(aor, ()) if b.ruid in gone]
        self._delete(found, stored=True)

    def _delete(self, bindings: list[Binding], *, stored: bool = False) -> None:
        if not bindings:
            return
        if self.db_mode != 3:
            gone = {b.ruid for b in bindings}
            # AoRs with a contact the write-back timer must still delete from the DB
            in_db = {b.aor for b in bindings if b.state != CS_NEW} if self.write_back else ()
            for aor in {b.aor for b in bindings}:
                rec = self._records.get(aor)
                if rec is None:
                    continue
                kept = []
                for x in rec:
                    if x.ruid in gone:
                        self._expiry.remove(x.ruid, x.expires)
                        self._dirty.pop(x.ruid, None)
                        self._flagged.pop(x.ruid, None)
                    else:
                        kept.append(x)
                self._contacts -= len(rec) - len(kept)
                rec[:] = kept
                # as Kamailio's release_urecord: an emptied record goes at once, unless a
                # contact the write-back timer must still delete from the DB was in it
                if not rec and aor not in in_db:
                    del self._records[aor]
                    self._empty.discard(aor)
                elif not rec:
                    self._empty.add(aor)
        if stored:
            return
        if self.db_mode == 3 and self.deferred:
            gone = {b.ruid for b in bindings}
            self._ops.append(("delete", sorted(gone)))
            for aor in {b.aor for b in bindings}:
                seen = self._fetched.get(aor)
                if seen is not None:
                    seen[:] = [x for x in seen if x.ruid not in gone]
        elif self.write_back:
            # deferred: a contact still on its way to the DB (CS_NEW in a batch being
            # written) must be deleted after it, so every ruid goes to the list
            self._deleted.extend(b.ruid for b in bindings if self.deferred or b.state != CS_NEW)
        elif self.db_mode in (1, 3):
            self._db_delete(bindings)
        self._notify(deleted=bindings)

    @property
    def write_back(self) -> bool:
        """Changes wait for a flush: db_mode 2, and db_mode 1 when deferred (the flush
        then follows every change at once, see the module docstring)."""
        return self.db_mode == 2 or (self.db_mode == 1 and self.deferred)

    # ---------------------------------------------------------------- timer

    def timer(self, limit: int = 0) -> bool:
        """Periodic work: drop expired bindings and empty records, write back dirty ones.
        ``limit``: expire about that many at most (the event loop is not held long);
        True when more are due (call again soon)."""
        now = self.clock()
        if self.db_mode == 3:
            if self.deferred:
                self._ops.append(("expire", now))
            else:
                self._db_expire(now)
            return False
        due = self._expiry.pop_due(now, limit)  # only the contacts whose time has come
        expired = []
        for ruid, aor in due:
            for b in self._records.get(aor, ()):
                if b.ruid == ruid:
                    if b.expired(now):
                        expired.append(b)
                    else:  # later in the same second: the next tick's
                        self._expiry.add(ruid, aor, b.expires)
        if expired:
            self.expired_total += len(expired)
            self._delete(expired, stored=not self.expires_in_db)
        for aor in self._empty:  # emptied records go at the tick after (release_urecord)
            if not self._records.get(aor, True):
                del self._records[aor]
        self._empty.clear()
        if self.db_mode == 2 and not self.deferred:
            self.flush()
        return self._expiry.due(now)

    # ---------------------------------------------------------------- writing pending work

    def take_pending(self) -> Batch:
        """What the database still needs (empty when nothing); it leaves the store with
        the batch: dirty contacts count as in sync from now on (the next batch does not
        write them again) and become dirty again if :meth:`batch_written` reports a
        failure, so a failed batch loses nothing."""
        batch = Batch()
        if self.db_mode == 3:
            batch.ops, self._ops = self._ops, []
        elif self.write_back:
            batch.deletes, self._deleted = self._deleted, []
            batch.upserts = [b for b in self._dirty.values() if b.state != CS_SYNC]
            self._dirty = {}
            for b in batch.upserts:
                b.state = CS_SYNC
        return batch

    def batch_written(self, batch: Batch, error: BaseException | None) -> None:
        """After :meth:`write_batch` (on the loop): the contacts are in sync, or, after
        an ``error``, the deletions wait for the next flush again. db_mode 3 statements
        are not kept: their REGISTER was answered with the error."""
        if error is None:
            return
        for b in batch.upserts:
            b.state = CS_DIRTY  # (a contact changed since is another, dirty, object)
            if b.ruid not in self._dirty and any(x is b for x in self._records.get(b.aor, ())):
                self._dirty[b.ruid] = b  # still the store's: written with the next batch
        if batch.deletes:
            self._deleted[:0] = batch.deletes

    def flush(self) -> int:
        """Write every pending change to the DB now, on this thread (write-back mode,
        or whatever a deferred store holds). Returns rows written."""
        if not (self.write_back or (self.db_mode == 3 and self.deferred)):
            return 0
        batch = self.take_pending()
        if not batch:
            return 0
        try:
            written = self.write_batch(batch)
        except BaseException as exc:
            self.batch_written(batch, exc)
            raise
        self.batch_written(batch, None)
        return written
