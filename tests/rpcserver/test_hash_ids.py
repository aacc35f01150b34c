"""Ids that Kamailio derives from its core hash: ours equal the captured ones.

Each case takes the inputs from a capture of a real Kamailio 5.6 (Call-IDs, AoRs, htable
keys, addresses) and asserts that the code path kamtool uses for that RPC field yields the
number Kamailio printed.
"""

from __future__ import annotations

from kamtool.core.hashes import core_hash
from kamtool.proxy.dialogs import HASH_SIZE
from kamtool.proxy.htable import HashTable
from kamtool.rpc.methods.permissions import address_bucket
from kamtool.rpc.methods.ul import aor_hash
from tests.rpcserver.captures import capture


def test_dialog_h_entry_is_the_call_id_bucket():
    dialogs = capture("dlg.list")["result"]
    assert len(dialogs) >= 3
    for d in dialogs:
        assert core_hash(d["call-id"], HASH_SIZE) == d["h_entry"], d["call-id"]


def test_usrloc_hash_id_is_the_aor_hash():
    domains = capture("ul.dump")["result"]["Domains"]
    records = [r["Info"] for dom in domains for r in dom["Domain"]["AoRs"]]
    assert len(records) >= 3
    for info in records:
        assert aor_hash(info["AoR"]) == info["HashID"], info["AoR"]


def test_htable_entry_is_the_key_slot():
    ipban = HashTable("ipban", size=8)  # the reference cfg: ipban=>size=8
    entries = capture("htable.dump.ipban.after_pike")["result"]
    assert len(entries) >= 4
    for entry in entries:
        for item in entry["slot"]:
            assert ipban.slot_of(item["name"]) == entry["entry"], item["name"]
    assert ipban.slot_of("K1") == ipban.slot_of("k1")  # core_case_hash


def test_address_table_bucket_reads_octets_as_signed_chars():
    rows = capture("permissions.addressDump")["result"]
    ips = {r["item"]["ip"] for r in rows}
    assert "192.168.1.0" in ips  # an address with octets >= 0x80
    for r in rows:
        assert address_bucket(r["item"]["ip"]) == r["table"], r["item"]["ip"]


def test_hash_of_empty_and_short_inputs():
    assert core_hash(b"") == 0
    assert core_hash(b"a") != core_hash(b"b")
    assert core_hash("abc", 16) < 16
