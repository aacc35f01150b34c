"""Kamailio's answer shapes (reference captures) turned into flat rows."""

from __future__ import annotations

import pytest

from kamtool.core.runtime import (
    dialogs,
    dispatcher,
    domains,
    htable,
    permissions,
    pike,
    stats,
    system,
    usrloc,
)
from kamtool.errors import BadInput
from tests.rpc.fakes import result


def test_ul_dump_rows():
    rows = usrloc.dump_rows(result("ul.dump"))
    assert [(r["aor"], r["contact"]) for r in rows] == [
        ("1002", "sip:1002@127.0.0.1:5064"),
        ("1003", "sip:1003@127.0.0.1:5068;transport=UDP"),
        ("1001", "sip:1001@127.0.0.1:5061"),
        ("1001", "sip:1001@127.0.0.1:5067"),
    ]
    r1003 = rows[1]
    assert r1003["q"] == 0.5 and r1003["instance"].startswith("<urn:uuid:")
    assert r1003["reg_id"] == 1 and r1003["user_agent"] == "sipp-kamref-reg"
    r1002 = rows[0]
    assert r1002["q"] is None  # -1 = not given
    assert r1002["received"] is None and r1002["path"] is None  # "[not set]"
    assert r1002["expires"] == 3429 and r1002["expired"] is False
    assert rows[3]["socket"] == "tcp:127.0.0.1:5060" and rows[3]["tcpconn_id"] == 3
    assert list(rows[0])[:4] == ["aor", "contact", "expires", "q"]


def test_ul_dump_expired_contact():
    rows = {r["aor"]: r for r in usrloc.dump_rows(result("ul.dump.sqlite_datetime_formats"))}
    assert rows["7004"]["expired"] is True and rows["7004"]["expires"] == 0
    assert rows["7004"]["socket"] is None


def test_ul_brief_lookup_and_stats():
    assert usrloc.brief_rows(result("ul.dump.brief")) == [
        {"aor": "1002"}, {"aor": "1003"}, {"aor": "1001"},
    ]  # fmt: skip
    assert usrloc.brief_rows(result("ul.dump")) == usrloc.brief_rows(result("ul.dump.brief"))
    assert usrloc.brief_rows(result("ul.dump.brief"), table="other") == []
    rows = usrloc.lookup_rows(result("ul.lookup.location.1001"))
    assert [r["contact"] for r in rows] == ["sip:1001@127.0.0.1:5061", "sip:1001@127.0.0.1:5067"]
    assert usrloc.dump_stats(result("ul.dump")) == [
        {"table": "location", "size": 1024, "records": 3, "max_slots": 1}
    ]


def test_dialog_rows():
    rows = dialogs.dialog_rows(result("dlg.list"))
    assert len(rows) == 3
    d = rows[0]
    assert (d["h_entry"], d["h_id"], d["call_id"]) == (3145, 3692, "1-12442@127.0.0.1")
    assert d["state"] == 4 and d["state_name"] == "confirmed"
    assert d["profiles"] == ["caller=1003", "outbound"]
    assert d["callee_contact"] == "sip:127.0.0.1:5062;transport=UDP"
    assert rows[1]["state_name"] == "confirmed_na"
    assert rows[1]["profiles"] == ["callee=1002", "caller=1001", "inbound"]
    assert dialogs.dialog_rows(result("dlg.profile_list.caller.1003"))[0]["h_id"] == 3692
    assert dialogs.dialog_rows([]) == []


def test_dispatcher_rows_sets_in_ascending_order():
    rows = dispatcher.list_rows(result("dispatcher.list"))
    assert [(r["set_id"], r["uri"]) for r in rows] == [
        (1, "sip:127.0.0.1:5062"),
        (1, "sip:127.0.0.1:5063"),
        (2, "sip:127.0.0.1:5065;transport=udp"),
    ]
    a, b, c = rows
    assert (a["flags"], a["state"], a["probing"], a["attrs"], a["weight"]) == (
        "AP", "active", True, "weight=50", 50,
    )  # fmt: skip
    assert b["state"] == "inactive" and b["attrs"] is None and b["weight"] is None  # no ATTRS
    assert c["socket"] == "udp:127.0.0.1:5060"


@pytest.mark.parametrize(
    ("given", "code"),
    [("ip", "ip"), ("a", "a"), ("active", "a"), ("inactive+probing", "ip"), ("Trying", "t"),
     ("disabled", "d"), ("AP", "ap")],
)  # fmt: skip
def test_dispatcher_state_codes(given, code):
    assert dispatcher.state_code(given) == code


@pytest.mark.parametrize("bad", ["x", "pa", "activ", ""])
def test_dispatcher_bad_states(bad):
    with pytest.raises(BadInput):
        dispatcher.state_code(bad)


def test_stats_rows_from_lists_and_objects():
    rows = stats.stat_rows(result("stats.get_statistics.multi"))
    assert rows[0] == {"group": "core", "name": "rcv_requests", "value": 84}
    assert {"group": "dialog", "name": "active_dialogs", "value": 2} in rows
    assert stats.stat_rows(result("stats.get_statistics.unknown")) == []
    fetched = stats.stat_rows(result("stats.fetch.core"))
    numeric = stats.stat_rows(result("stats.fetchn.core"))
    assert [(r["group"], r["name"]) for r in fetched] == [(r["group"], r["name"]) for r in numeric]
    assert all(isinstance(r["value"], int) for r in fetched)  # "0" strings became numbers
    assert {"group": "core", "name": "drop_requests", "value": 5} in fetched
    assert len(stats.stat_rows(result("stats.get_statistics.all"))) > 100


def test_stats_rates():
    before = {"core:rcv_requests": 10, "shmem:free_size": 1000}
    after = {"core:rcv_requests": 30, "shmem:free_size": 900}
    rows = stats.rates(before, after, 2.0)
    assert rows == [
        {"group": "core", "name": "rcv_requests", "value": 30, "rate": 10.0},
        {"group": "shmem", "name": "free_size", "value": 900, "rate": -50.0},
    ]
    assert stats.rates({}, after, 1.0)[0]["rate"] is None


def test_htable_rows():
    rows = htable.dump_rows(result("htable.dump.ipban"), "ipban")
    assert rows == [
        {"table": "ipban", "name": "10.0.0.98", "value": 1, "type": "int", "bucket": 230},
        {"table": "ipban", "name": "10.0.0.99", "value": "blocked", "type": "str", "bucket": 229},
    ]
    assert htable.dump_rows(result("htable.dump.ipban.empty")) == []


def test_address_rows_merge_hosts_and_networks():
    rows = permissions.address_rows(
        result("permissions.addressDump"), result("permissions.subnetDump")
    )
    assert rows == [
        {"group": 1, "ip": "10.0.0.10", "mask": 32, "port": 5060, "tag": "trusted-gw"},
        {"group": 2, "ip": "127.0.0.0", "mask": 8, "port": 0, "tag": "loopback"},
        {"group": 3, "ip": "192.168.1.0", "mask": 32, "port": 0, "tag": None},  # "NULL"
    ]


def test_domain_pike_ps():
    assert domains.domain_rows(result("domain.dump")) == [
        {"domain": "127.0.0.1", "did": "127.0.0.1"},
        {"domain": "kamailio.test", "did": "kamailio.test"},
    ]
    top = pike.top_rows(result("pike.top.ALL"))
    assert top == [{"ip": "127.0.0.3", "hits_prev": 0, "hits_curr": 200, "expires": 4,
                    "status": "HOT"}]  # fmt: skip
    assert pike.top_rows(result("pike.top.empty")) == []
    psx = system.ps_rows(result("core.psx"))
    ps = system.ps_rows(result("core.ps"))
    assert [(r["pid"], r["description"]) for r in psx] == [
        (r["pid"], r["description"]) for r in ps[: len(psx)]
    ]
    assert psx[7] == {"index": 7, "pid": 10503, "description": "JSONRPCS FIFO"}


def test_trusted_rows():
    """No capture (the reference cfg has no trusted table): the shape of Kamailio 5.6's
    hash_table_rpc_print."""
    answer = [
        {"table": 12, "item": {"ip": "10.0.0.1", "proto": 1, "pattern": "NULL", "tag": "gw"}},
        {"table": 40, "item": {"ip": "10.0.0.2", "proto": 0, "pattern": "^sip:.*$",
                               "tag": "NULL", "ruri_pattern": "NULL", "priority": 3}},
    ]  # fmt: skip
    assert permissions.trusted_rows(answer) == [
        {"src_ip": "10.0.0.1", "proto": "udp", "pattern": None, "ruri_pattern": None,
         "tag": "gw", "priority": None},
        {"src_ip": "10.0.0.2", "proto": "any", "pattern": "^sip:.*$", "ruri_pattern": None,
         "tag": None, "priority": 3},
    ]  # fmt: skip
