"""The write-back's bulk statements (``LocationTable._db_upsert_many``) on SQLite, MariaDB and
PostgreSQL: new contacts inserted and known ones updated in place (same ``id``), every
column as the ORM writes it (NULLs, datetimes, Kamailio's permanent expiry, the reserved
word ``partition``), read back by the same code that loads the table at start-up."""

from __future__ import annotations

import time

from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from kamtool.proxy.binding import Batch, Binding
from kamtool.proxy.usrloc import LocationStore
from kamtool.proxy.usrloc_rows import BULK_FROM, BULK_ROWS


def _binding(i: int, now: float, **changes) -> Binding:
    fields = dict(
        aor=f"u{i}", contact=f"sip:u{i}@192.0.2.{i % 250}:5060;ob", expires=int(now) + 600 + i,
        q=0.5 if i % 2 else -1.0, callid=f"c{i}@x", cseq=i, user_agent="phone 'x\" y",
        received=f"sip:198.51.100.1:{1024 + i}" if i % 3 == 0 else None,
        path="<sip:edge;lr>" if i % 5 == 0 else None, socket="udp:127.0.0.1:5060",
        methods=None if i % 2 else 8191, instance="<urn:uuid:1>" if i % 7 == 0 else None,
        reg_id=1 if i % 7 == 0 else 0, cflags=64 if i % 3 == 0 else 0, ruid=f"uloc-{i}",
        last_modified=int(now), keepalive=i % 2,
    )  # fmt: skip
    fields.update(changes)
    return Binding(**fields)


def test_write_back_batch_inserts_then_updates_in_place(db_url):
    db = open_database(db_url)
    try:
        create_tables(db, ["standard"])  # (location and version among them)
        store = LocationStore(db_mode=2, database=db)
        now = time.time()
        n = BULK_ROWS + 7  # two statements' worth
        first = [_binding(i, now) for i in range(n)]
        first.append(_binding(n, now, expires=0))  # permanent (ul.add ... 0)
        assert store.write_batch(Batch(upserts=first)) == n + 1
        ids = {r.ruid: r.id for r in store.model.select(store.model.id, store.model.ruid)}
        assert len(ids) == n + 1
        # refreshes of some, one new contact, the same ruid twice (the last one wins)
        again = [_binding(i, now, cseq=10_000 + i, received=None) for i in range(0, n, 2)]
        again += [_binding(n + 1, now), _binding(3, now, cseq=1), _binding(3, now, cseq=99)]
        store.write_batch(Batch(upserts=again))
        rows = {r.ruid: r for r in store.model.select(store.model.id, store.model.ruid)}
        assert len(rows) == n + 2
        assert all(rows[ruid].id == old for ruid, old in ids.items())  # updated in place
        by_ruid = {b.ruid: b for b in store._db_select()}
        want = {b.ruid: b for b in first}
        want.update({b.ruid: b for b in again})
        for ruid, b in want.items():
            got = by_ruid[ruid]
            assert (got.aor, got.contact, got.expires, got.q, got.callid, got.cseq) == (
                b.aor, b.contact, b.expires, b.q, b.callid, b.cseq
            ), ruid  # fmt: skip
            assert (got.received, got.path, got.methods, got.instance, got.reg_id) == (
                b.received, b.path, b.methods, b.instance, b.reg_id
            ), ruid  # fmt: skip
            assert (got.user_agent, got.socket, got.cflags, got.keepalive) == (
                b.user_agent, b.socket, b.cflags, b.keepalive
            ), ruid  # fmt: skip
    finally:
        db.close()


def test_a_batch_written_twice_does_no_harm(db_url):
    """The same batch again (the database worker retries one whose commit it did not see):
    the rows are there once. MySQL answers an UPDATE that changes nothing with 0 rows,
    which the one-row path once took for "not there" and inserted a duplicate (ruid_idx)."""
    db = open_database(db_url)
    try:
        create_tables(db, ["standard"])
        store = LocationStore(db_mode=2, database=db)
        now = time.time()
        small = Batch(
            upserts=[_binding(i, now) for i in range(BULK_FROM - 1)],  # a contact at a time
            ops=[("save", _binding(99, now)), ("save", _binding(99, now))],  # db_mode 3's path
        )
        big = Batch(upserts=[_binding(i, now) for i in range(100, 100 + BULK_FROM)])
        for batch in (small, small, big, big):
            store.write_batch(batch)
        want = [*range(BULK_FROM - 1), 99, *range(100, 100 + BULK_FROM)]
        assert sorted(b.ruid for b in store._db_select()) == sorted(f"uloc-{i}" for i in want)
    finally:
        db.close()


def test_sqlite_batch_waits_for_another_writer(sqlite_url):
    """Another process holds SQLite's write lock (a second worker flushing, Kamailio): the
    batch waits for it and then writes. A deferred transaction that read first failed at
    once with "database is locked" once the other writer had committed."""
    import sqlite3
    import threading

    db = open_database(sqlite_url)
    try:
        create_tables(db, ["standard"])
        store = LocationStore(db_mode=2, database=db)
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None,
                                check_same_thread=False)  # fmt: skip
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO location (ruid, username, contact) VALUES ('r-x', 'x', 'sip:x')")

        def commit_later() -> None:
            time.sleep(0.3)
            other.execute("COMMIT")

        threading.Thread(target=commit_later).start()
        store.write_batch(Batch(upserts=[_binding(i, time.time()) for i in range(BULK_FROM)]))
        other.close()
        assert len(store._db_select()) == BULK_FROM + 1
    finally:
        db.close()
