"""usrloc's bookkeeping that spares walking every contact (issue #17: the expiry sweep
held the loop ~0.2 s at 100k contacts): expiry buckets, the contact counters behind
``stats()`` and the write-back's dirty set, checked against a brute-force walk of the
same store after every step of a random history, on a real SQLite database."""

from __future__ import annotations

import random

import pytest

from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from kamtool.proxy.binding import CS_SYNC
from kamtool.proxy.expiry import ExpiryBuckets
from kamtool.proxy.usrloc import Binding, LocationStore


@pytest.fixture
def database(sqlite_url):
    db = open_database(sqlite_url)
    create_tables(db, ["standard"])
    yield db
    db.close()


def db_rows(store):
    m = store.model
    return {r["ruid"]: r["contact"] for r in m.select().dicts()}


def walked_stats(store):
    """What stats() must say, counted the slow way."""
    records = [store.get(aor) for aor in store.aors()]
    return sum(1 for rec in records if rec), sum(len(rec) for rec in records)


def test_buckets_give_due_keys_once_and_forget_moved_ones():
    buckets = ExpiryBuckets()
    buckets.add("a", "aor1", 100.5)
    buckets.add("b", "aor1", 101.0)
    buckets.add("c", "aor2", 0)  # permanent: never due
    buckets.add("d", "aor2", 100.2)
    buckets.remove("d", 100.2)
    buckets.add("d", "aor2", 300.0)  # refreshed
    assert len(buckets) == 3
    assert buckets.pop_due(99.9) == []
    assert buckets.pop_due(100.1) == [("a", "aor1")]  # its second has begun: the caller checks
    assert buckets.pop_due(100.9) == []
    assert buckets.pop_due(101.0) == [("b", "aor1")]
    assert buckets.pop_due(200.0) == []
    buckets.remove("x", 50.0)  # unknown: no error
    assert buckets.pop_due(300.0) == [("d", "aor2")] and len(buckets) == 0


def test_the_timer_drops_exactly_the_expired_contacts_of_a_random_history(database):
    rnd = random.Random(17)
    now = [1000.0]
    store = LocationStore(db_mode=2, database=database, clock=lambda: now[0])
    for step in range(600):
        aor = f"u{rnd.randrange(40)}"
        contact = f"sip:{aor}@10.0.0.{rnd.randrange(3)}"
        op = rnd.random()
        if op < 0.55:  # register or refresh (matched by contact, as the registrar does)
            old = [b for b in store.contacts_of(aor) if b.contact == contact]
            expires = 0.0 if rnd.random() < 0.05 else now[0] + rnd.uniform(1, 60)
            b = Binding(aor=aor, contact=contact, expires=expires)
            if old:
                b.ruid = old[0].ruid
            store.save(b)
        elif op < 0.65:
            store.remove_contact(aor, contact)
        elif op < 0.7:
            store.remove(aor)
        else:
            now[0] += rnd.uniform(0, 5)
            store.timer()  # write-back included (not deferred)
            left = [b for a in store.aors() for b in store.contacts_of(a) if b.expired(now[0])]
            assert left == [], f"step {step}: expired contacts kept"
            memory = {b.ruid: b.contact for a in store.aors() for b in store.contacts_of(a)}
            assert db_rows(store) == memory, f"step {step}: the DB differs from memory"
        assert store.stats() == walked_stats(store), f"step {step}"
    assert store.expired_total > 50  # the history did expire contacts


def test_write_back_takes_only_changed_contacts_and_keeps_them_after_a_failure(database):
    store = LocationStore(db_mode=2, database=database)
    for i in range(5):
        store.save(Binding(aor=f"u{i}", contact=f"sip:u{i}@h", expires=0))
    assert store.flush() == 5
    assert all(b.state == CS_SYNC for a in store.aors() for b in store.contacts_of(a))
    assert len(store.take_pending()) == 0  # nothing changed: nothing to write
    (one,) = store.contacts_of("u1")
    store.save(Binding(aor="u1", contact="sip:u1@h", expires=0, ruid=one.ruid, cseq=2))
    store.save(Binding(aor="u2", contact="sip:u2@other", expires=0))
    batch = store.take_pending()
    assert sorted(b.aor for b in batch.upserts) == ["u1", "u2"]
    store.batch_written(batch, OSError("database away"))
    assert len(store.take_pending()) == 2  # failed: written with the next batch
    batch = store.take_pending()
    assert len(batch) == 0


def test_a_contact_removed_while_its_write_failed_is_not_written_back(database):
    store = LocationStore(db_mode=2, database=database)
    store.save(Binding(aor="u1", contact="sip:u1@h", expires=0))
    batch = store.take_pending()
    store.remove("u1")
    store.batch_written(batch, OSError("database away"))
    retry = store.take_pending()
    assert retry.upserts == [] and len(retry.deletes) == 1  # only its delete is due


def test_flagged_lists_the_live_nated_contacts_only(database):
    now = [1000.0]
    store = LocationStore(db_mode=2, database=database, clock=lambda: now[0])
    nated = store.save(Binding(aor="a", contact="sip:a@h", expires=1100.0, cflags=64, keepalive=1))
    store.save(Binding(aor="b", contact="sip:b@h", expires=1100.0))
    short = store.save(Binding(aor="c", contact="sip:c@h", expires=1010.0, cflags=64))
    assert {b.ruid for b in store.flagged()} == {nated.ruid, short.ruid}
    now[0] = 1020.0  # c expired (not yet swept): not pinged
    assert [b.ruid for b in store.flagged()] == [nated.ruid]
    # a refresh from the same phone, no longer behind a NAT: not pinged either
    store.save(Binding(aor="a", contact="sip:a@h", expires=1100.0, ruid=nated.ruid))
    assert store.flagged() == []
    store.save(Binding(aor="a", contact="sip:a@h", expires=1100.0, ruid=nated.ruid, cflags=64))
    store.remove("a")
    store.timer()
    assert store.flagged() == []
    store.flush()
    again = LocationStore(db_mode=2, database=database, clock=lambda: now[0])
    again.save(Binding(aor="d", contact="sip:d@h", expires=1100.0, keepalive=1))
    again.flush()
    again.load()  # loaded rows are indexed too
    assert [b.aor for b in again.flagged()] == ["d"]


def test_a_mass_expiry_goes_in_slices(database):
    now = [1000.0]
    store = LocationStore(db_mode=2, database=database, clock=lambda: now[0])
    for i in range(50):  # ten seconds' worth of expiries, five per second
        store.save(Binding(aor=f"u{i}", contact=f"sip:u{i}@h", expires=1001.0 + i // 5))
    store.save(Binding(aor="late", contact="sip:late@h", expires=5000.0))
    now[0] = 2000.0
    slices = 1
    while store.timer(limit=12):  # stops after the bucket (second) that reaches 12
        assert store.stats()[1] > 1
        slices += 1
    assert slices == 4 and store.expired_total == 50
    assert store.stats() == (1, 1) and not store.timer(limit=12)


def test_flagged_reads_the_table_in_db_mode_3(database):
    now = [1000.0]
    store = LocationStore(db_mode=3, database=database, clock=lambda: now[0])
    store.save(Binding(aor="a", contact="sip:a@h", expires=1100.0, cflags=64, keepalive=1))
    store.save(Binding(aor="b", contact="sip:b@h", expires=1100.0))
    store.save(Binding(aor="c", contact="sip:c@h", expires=1010.0, cflags=64))
    now[0] = 1050.0
    assert [b.aor for b in store.flagged()] == ["a"]
