"""The DB snapshot tables behind permissions.*, domain.*, dispatcher.* and the DB-backed
htable ``kv``: loaded from a real database, reloaded on request, shaped like Kamailio's."""

from __future__ import annotations

import asyncio
import json

from kamtool.db import schema
from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from kamtool.db.models import make_model
from kamtool.proxy.htable import HtableStore, default_tables, load_db_rows
from kamtool.proxy.stats import Statistics
from kamtool.rpc.methods.build import build_registry
from kamtool.rpc.methods.dbtables import AddressTable, DispatcherTable, DomainTable
from kamtool.rpc.server.dispatch import handle_bytes
from tests.rpcserver.captures import capture
from tests.rpcserver.shape import shape_diff

TABLES = ("address", "trusted", "domain", "dispatcher", "htable")


def _seed(db) -> dict:
    create_tables(db, tables=[schema.tables()[t] for t in TABLES])
    m = {t: make_model(schema.tables()[t], db) for t in TABLES}
    m["address"].insert_many(
        [
            {"grp": 1, "ip_addr": "10.0.0.10", "mask": 32, "port": 5060, "tag": "trusted-gw"},
            {"grp": 3, "ip_addr": "192.168.1.0", "mask": 32, "port": 0, "tag": None},
            {"grp": 2, "ip_addr": "127.0.0.0", "mask": 8, "port": 0, "tag": "loopback"},
        ]
    ).execute()
    m["domain"].insert_many([{"domain": "127.0.0.1"}, {"domain": "kamailio.test"}]).execute()
    m["dispatcher"].insert_many(
        [
            {"setid": 1, "destination": "sip:127.0.0.1:5063", "flags": 0, "priority": 5,
             "attrs": ""},
            {"setid": 1, "destination": "sip:127.0.0.1:5062", "flags": 0, "priority": 10,
             "attrs": "weight=50"},
            {"setid": 2, "destination": "sip:127.0.0.1:5065;transport=udp", "flags": 2,
             "priority": 0, "attrs": "socket=udp:127.0.0.1:5060"},
        ]
    ).execute()  # fmt: skip
    m["htable"].insert_many(
        [
            {"key_name": "greeting", "key_type": 0, "value_type": 0, "key_value": "hello"},
            {"key_name": "limit", "key_type": 0, "value_type": 1, "key_value": "42"},
        ]
    ).execute()
    return m


def _rpc(registry, method: str, *params):
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
    return asyncio.run(handle_bytes(registry, body.encode())).body


def test_tables_load_reload_and_answer_like_kamailio(db_url: str) -> None:
    db = open_database(db_url)
    try:
        models = _seed(db)
        addresses, domains, dispatcher = AddressTable(db), DomainTable(db), DispatcherTable(db)
        store = HtableStore(default_tables(), loader=load_db_rows(db))
        store.reload("kv")
        reg = build_registry(
            statistics=Statistics(),
            perms=addresses,
            domains=domains,
            dispatch=dispatcher,
            htables=store,
        )
        for method, cap in (
            ("permissions.addressDump", "permissions.addressDump"),
            ("permissions.subnetDump", "permissions.subnetDump"),
            ("domain.dump", "domain.dump"),
            ("dispatcher.list", "dispatcher.list.after_reload"),
        ):
            ours = _rpc(reg, method)["result"]
            assert not shape_diff(ours, capture(cap)["result"]), method
            if method != "permissions.addressDump":  # the "table" hash values differ
                assert ours == capture(cap)["result"], method
        assert _rpc(reg, "htable.get", "kv", "limit")["result"]["item"]["value"] == 42
        assert _rpc(reg, "htable.get", "kv", "greeting")["result"]["item"]["value"] == "hello"

        assert addresses.allows(1, "10.0.0.10", 5060) and not addresses.allows(1, "10.0.0.10", 5061)
        assert addresses.allows(2, "127.0.0.99", 1234) and not addresses.allows(2, "10.0.0.1")
        assert domains.is_local("KAMAILIO.test") and not domains.is_local("example.com")

        # states: set_state, then reload restores the DB flags
        assert _rpc(reg, "dispatcher.set_state", "ip", 1, "all")["result"].startswith("Ok")
        assert {d.flags for d in dispatcher.sets()[1]} == {"IP"}
        assert _rpc(reg, "dispatcher.set_state", "a", 1, "sip:10.9.9.9:5060")["error"] == {
            "code": 500,
            "message": "State Update Failed",
        }
        models["address"].insert(grp=1, ip_addr="10.0.0.11", mask=32, port=0).execute()
        models["domain"].insert(domain="new.test", did="tenant1").execute()
        assert _rpc(reg, "permissions.addressReload")["result"] == "Reload OK"
        assert _rpc(reg, "domain.reload")["result"] == {}
        assert _rpc(reg, "dispatcher.reload")["result"].startswith("Ok")
        assert _rpc(reg, "dispatcher.reload")["error"]["message"] == "Ongoing reload"
        assert [d.flags for d in dispatcher.sets()[1]] == ["AX", "AX"]
        assert addresses.allows(1, "10.0.0.11", 7)
        assert {"domain": "new.test", "did": "tenant1"} in _rpc(reg, "domain.dump")["result"][
            "domains"
        ]
    finally:
        db.close()


def test_default_store_loads_kv_and_survives_a_missing_table(sqlite_url: str) -> None:
    from kamtool.proxy.htable import default_store

    db = open_database(sqlite_url)
    try:
        assert default_store(db).get("kv").items == {}  # no htable table yet: empty, no crash
        _seed(db)
        store = default_store(db)
        assert store.get("kv").get("limit").value == 42
        assert store.get("ipban").autoexpire == 300
    finally:
        db.close()


def test_build_registry_from_a_database(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    try:
        create_tables(db, tables=[schema.tables()[t] for t in ("address", "htable")])
        reg = build_registry(statistics=Statistics(), database=db)
        # address exists: permissions.*; no domain/dispatcher tables: those are left out
        assert "permissions.addressDump" in reg.names()
        assert "domain.dump" not in reg.names() and "dispatcher.list" not in reg.names()
        assert _rpc(reg, "htable.dump", "kv")["result"] == []
    finally:
        db.close()


def test_proxy_load_survives_missing_tables_and_skips_bad_rows(sqlite_url: str) -> None:
    """The proxy's ``load()`` logs instead of raising (it starts with empty tables), keeps
    its static local names, and leaves out address rows that are not networks."""
    db = open_database(sqlite_url)
    try:
        addresses = AddressTable(db, load=False)
        domains = DomainTable(db, frozenset({"proxy.test"}), load=False)
        addresses.load()
        domains.load()
        assert addresses.addresses() == [] and not addresses.allows(1, "10.0.0.10", 5060)
        assert domains.is_local("PROXY.test") and not domains.is_local(None)
        models = _seed(db)
        models["address"].insert(grp=1, ip_addr="not-an-ip", mask=32, port=0).execute()
        addresses.load()
        domains.load()
        assert [r.ip_addr for r in addresses.addresses()] == [
            "10.0.0.10",
            "192.168.1.0",
            "127.0.0.0",
        ]
        assert addresses.allows(1, "10.0.0.10", 5060)  # the answer cached before was reset
        assert domains.is_local("kamailio.test") and domains.is_local("proxy.test")
    finally:
        db.close()
