"""The location store's db_mode semantics on every engine, and Kamailio's row format."""

from __future__ import annotations

import time

import pytest

from kamtool.db import schema
from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from kamtool.proxy.usrloc import Binding, LocationStore


def _open(url):
    db = open_database(url)
    create_tables(db, ["standard"])
    return db


@pytest.fixture
def database(sqlite_url):
    db = _open(sqlite_url)
    yield db
    db.close()


@pytest.fixture
def any_database(db_url):
    """The same on SQLite, MariaDB and PostgreSQL (datetime storage differs per engine)."""
    db = _open(db_url)
    yield db
    db.close()


def rows(store):
    m = store.model
    return list(m.select().order_by(m.id).dicts())


def binding(contact="sip:1001@127.0.0.1:5061", **kw):
    return Binding(aor="1001", contact=contact, expires=time.time() + 3600, **kw)


def test_db_mode_0_keeps_nothing_in_the_database(database):
    store = LocationStore(db_mode=0, database=database)
    store.save(binding())
    assert [b.contact for b in store.lookup("1001")] == ["sip:1001@127.0.0.1:5061"]
    store = LocationStore(db_mode=1, database=database)  # mode 0 wrote nothing
    assert rows(store) == []


def test_db_mode_1_writes_through_and_reloads(any_database):
    database = any_database
    store = LocationStore(db_mode=1, database=database)
    b = store.save(
        binding(q=0.5, callid="c1", cseq=7, user_agent="ua", socket="udp:127.0.0.1:5060")
    )
    (row,) = rows(store)
    assert row["ruid"] == b.ruid and row["ruid"].startswith("uloc-")
    assert (row["username"], row["domain"], row["contact"]) == ("1001", None, b.contact)
    assert (row["q"], row["callid"], row["cseq"], row["user_agent"]) == (0.5, "c1", 7, "ua")
    assert row["socket"] == "udp:127.0.0.1:5060" and row["methods"] is None
    assert row["connection_id"] == -1
    assert abs(row["expires"].timestamp() - b.expires) < 1.5
    again = LocationStore(db_mode=1, database=database)
    assert again.load() == 1
    (loaded,) = again.lookup("1001")
    assert (loaded.contact, loaded.q, loaded.ruid) == (b.contact, 0.5, b.ruid)
    again.remove("1001")
    assert rows(again) == []


def test_db_mode_2_writes_back_on_the_timer(database):
    store = LocationStore(db_mode=2, database=database)
    first = store.save(binding())
    assert rows(store) == []
    store.timer()
    assert [r["ruid"] for r in rows(store)] == [first.ruid]
    store.save(binding(contact="sip:1001@127.0.0.1:5062"))
    store.remove_contact("1001", first.contact)
    assert store.flush() == 2
    assert [r["contact"] for r in rows(store)] == ["sip:1001@127.0.0.1:5062"]


def test_db_mode_3_reads_and_writes_the_database_only(any_database):
    database = any_database
    a = LocationStore(db_mode=3, database=database)
    b = LocationStore(db_mode=3, database=database)
    a.save(binding())
    assert [x.contact for x in b.lookup("1001")] == ["sip:1001@127.0.0.1:5061"]
    assert b.aors() == ["1001"] and b.stats() == (1, 1)
    b.remove("1001")
    assert a.lookup("1001") == []


def test_expired_contacts_are_dropped_by_the_timer(database):
    now = [1000.0]
    store = LocationStore(db_mode=1, database=database, clock=lambda: now[0])
    store.save(Binding(aor="1001", contact="sip:a@1.2.3.4", expires=1010.0))
    store.save(Binding(aor="1001", contact="sip:b@1.2.3.4", expires=2000.0))
    now[0] = 1500.0
    assert [x.contact for x in store.lookup("1001")] == ["sip:b@1.2.3.4"]
    store.timer()
    assert store.expired_total == 1
    assert [r["contact"] for r in rows(store)] == ["sip:b@1.2.3.4"]


def test_lookup_orders_by_q_with_absent_q_as_one(database):
    store = LocationStore(db_mode=0, database=database)
    store.save(binding("sip:low@1.1.1.1", q=0.1))
    store.save(binding("sip:none@1.1.1.1"))
    store.save(binding("sip:half@1.1.1.1", q=0.5))
    assert [b.contact for b in store.lookup("1001")] == [
        "sip:none@1.1.1.1",
        "sip:half@1.1.1.1",
        "sip:low@1.1.1.1",
    ]


def test_schema_has_location():
    assert "location" in schema.tables()


@pytest.mark.parametrize("db_mode", [0, 1, 2])
def test_removing_every_contact_removes_the_record(database, db_mode):
    """As Kamailio's ul.rm: the AoR is gone at once (ul.lookup: not found) ..."""
    store = LocationStore(db_mode=db_mode, database=database)
    store.add(binding())
    assert store.remove("1001") == 1
    assert store.get("1001") is None and store.aors() == []


def test_write_back_keeps_an_emptied_record_until_the_db_forgets_its_contacts(database):
    """... except in write-back mode for a contact already in the DB (Kamailio keeps it
    as a zombie for the timer): the record lasts, empty, until the timer's write."""
    store = LocationStore(db_mode=2, database=database)
    store.save(binding())
    store.timer()  # written: the contact is now in the DB
    assert len(rows(store)) == 1
    store.remove("1001")
    assert store.get("1001") == []
    store.timer()
    assert store.get("1001") is None and rows(store) == []
