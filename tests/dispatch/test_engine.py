"""The dispatcher engine's parts that need no Kamailio to check: hash keys, the digest
user, latency statistics, state thresholds, relative weights after state changes, call
load across next_dst and reloads, address matching."""

from __future__ import annotations

import collections
import random

import pytest

from kamtool.core.dispatch.engine import DsEngine
from kamtool.core.dispatch.hashing import digest_user, ds_hash, uri_hash_keys
from kamtool.core.dispatch.latency import LatencyStats
from kamtool.core.dispatch.model import (
    DS_INACTIVE,
    DS_PROBING,
    DS_TRYING,
    DsParams,
    DsRequest,
    SelectError,
)


def rows(*specs):
    return [(s, u, f, p, a, "") for s, u, f, p, a in specs]


@pytest.mark.parametrize(
    ("uri", "flags", "keys"),
    [
        ("sip:alice@example.com", 0, ("alice", "example.com")),
        ("sip:alice@example.com:5060", 0, ("alice", "example.com")),
        ("sip:alice@example.com:05060", 0, ("alice", "example.com")),
        ("sip:alice@example.com:5070;transport=tcp", 0, ("alice", "example.com:5070")),
        ("sips:alice@example.com:5061", 0, ("alice", "example.com")),
        ("sips:alice@example.com:5060", 0, ("alice", "example.com:5060")),
        ("sip:bob:secret@[::1]:5062", 0, ("bob", "[::1]:5062")),
        ("sip:example.com", 0, (None, "example.com")),
        ("sip:alice@example.com:5070", 1, ("alice", "")),
        ("  sip:Carol@Example.COM  ", 0, ("Carol", "Example.COM")),
    ],
)  # fmt: skip
def test_uri_hash_keys(uri, flags, keys):
    assert uri_hash_keys(uri, flags) == keys


def test_hash_is_never_zero_and_sums_both_keys():
    assert ds_hash("") == 1
    assert ds_hash("abcd", "efgh") == ds_hash("abcdefgh")  # whole words sum alike
    assert ds_hash("ab", "cd") != ds_hash("abcd")  # a short tail is its own word


@pytest.mark.parametrize(
    ("name", "user"),
    [("alice", "alice"), ("alice@example.com", "alice"), ("sip:alice@example.com", "alice"),
     ("a@", "a@"), ("x@y@z", "x")],
)  # fmt: skip
def test_digest_user(name, user):
    assert digest_user(name) == user


def test_hash_algorithms_need_their_input():
    e = DsEngine(rows((1, "sip:127.0.0.1:5070", 0, 0, "")))
    for alg, req in ((0, DsRequest(call_id="  ")), (1, DsRequest(from_uri="tel:+1")),
                     (7, DsRequest(pv_value=None))):  # fmt: skip
        with pytest.raises(SelectError):
            e.select(1, alg, req)
    with pytest.raises(SelectError):
        e.select(2, 0, DsRequest(call_id="x"))
    # 5 without credentials is round-robin
    assert e.select(1, 5, DsRequest()).dest.uri == "sip:127.0.0.1:5070"


def test_latency_statistics():
    s = LatencyStats()
    for ms in (10, 20, 30):
        s.update(ms)
    assert (s.count, s.min, s.max, s.average, s.estimate) == (3, 10, 30, 20.0, 20.0)
    assert s.stdev == pytest.approx(10.0)
    steady = LatencyStats()
    for _ in range(11):
        steady.update(7)
    assert steady.count == 10000  # stable after 10 samples: trained, average slows down
    steady.update(107)
    assert steady.average == pytest.approx(7 + 100 / 10000, abs=1e-4)
    assert steady.estimate == pytest.approx(7 * 0.9 + 107 * 0.1, abs=1e-4)
    steady.timed_out()
    assert steady.timeout == 1 and steady.as_rpc()["MAX"] == 107
    assert LatencyStats.initial(40).as_rpc() == {"AVG": 40, "STD": 0, "EST": 40, "MAX": 40,
                                                 "TIMEOUT": 0}  # fmt: skip


def test_state_thresholds():
    uri = "sip:127.0.0.1:5070"
    e = DsEngine(rows((1, uri, 0, 0, "")), DsParams(probing_threshold=3, inactive_threshold=2))
    d = e.find(1, uri)
    e.update_state(1, uri, DS_TRYING | DS_PROBING)
    e.update_state(1, uri, DS_TRYING | DS_PROBING)
    assert d.flags == DS_TRYING | DS_PROBING  # two failures: still trying
    e.update_state(1, uri, DS_TRYING | DS_PROBING)
    assert d.flags == DS_INACTIVE | DS_PROBING  # the third: inactive
    e.update_state(1, uri, DS_PROBING)
    assert d.flags & DS_INACTIVE  # one success is not enough
    e.update_state(1, uri, DS_PROBING)
    assert d.flags == DS_PROBING


def test_relative_weights_follow_state_changes():
    spec = [(1, "sip:127.0.0.1:5071", 0, 0, "rweight=25"),
            (1, "sip:127.0.0.1:5072", 0, 0, "rweight=75")]  # fmt: skip
    e = DsEngine(rows(*spec), rng=random.Random(1))

    def pick() -> collections.Counter:
        return collections.Counter(e.select(1, 11).dest.uri for _ in range(100))

    assert pick() == {"sip:127.0.0.1:5071": 25, "sip:127.0.0.1:5072": 75}
    e.set_state(1, "sip:127.0.0.1:5072", DS_INACTIVE)
    assert pick() == {"sip:127.0.0.1:5071": 100}  # the table is rebuilt without it


def test_call_load_moves_with_next_dst_and_survives_a_reload():
    spec = [(1, "sip:127.0.0.1:5071", 0, 0, "duid=a;maxload=1"),
            (1, "sip:127.0.0.1:5072", 0, 0, "duid=b;maxload=1")]  # fmt: skip
    e = DsEngine(rows(*spec))
    sel = e.select(1, 10, DsRequest(call_id="c1"))
    first = sel.dest
    assert first.dload == 1 and len(sel.failover) == 2
    second = e.next_dst(sel)
    assert (first.dload, second.dload) == (0, 1) and e.next_dst(sel) is None
    fresh = DsEngine(rows(*spec))
    fresh.adopt_loads(e)
    assert fresh.find(1, second.uri).dload == 1
    fresh.load_update("c1", status=200, cseq_method="INVITE")
    assert fresh.loads["c1"].confirmed
    fresh.load_update("c1", "BYE")
    assert fresh.find(1, second.uri).dload == 0 and not fresh.load_unset("c1")


def test_is_from_matches_resolved_addresses():
    e = DsEngine(rows((1, "sip:gw.example.com:5070", 0, 0, ""),
                      (2, "sip:gw2.example.com", 0, 0, "")))  # fmt: skip
    e.find(1, "sip:gw.example.com:5070").address = "192.0.2.1"
    e.find(2, "sip:gw2.example.com").address = "192.0.2.2"
    assert e.is_from("192.0.2.1", 5070) == 1
    assert e.is_from("192.0.2.1", 5060) is None  # the port is written: it must match
    assert e.is_from("192.0.2.2", 40000) == 2  # no port written: any port
    assert e.is_from("192.0.2.2", 5060, set_id=1) is None
    e.set_state(2, "all", DS_INACTIVE)
    assert e.is_from("192.0.2.2", 5060, mode=4 | 2) is None  # only active ones


def test_slow_destination_is_chosen_less_by_latency():
    fast, slow = "sip:127.0.0.1:5071", "sip:127.0.0.1:5072"
    e = DsEngine(rows((1, fast, DS_PROBING, 10, ""), (1, slow, DS_PROBING, 10, "")))
    for _ in range(20):
        e.probe_latency(1, fast, 200, 5)
        e.probe_latency(1, slow, 200, 300)
    e.probe_latency(1, slow, 408, 0)
    assert e.find(1, slow).latency.timeout == 1
    chosen = collections.Counter(e.select(1, 13).dest.uri for _ in range(10))
    assert chosen == {fast: 10}  # 300 ms over priority 10 costs 30: priority 1 vs 10


def test_set_duid_state():
    e = DsEngine(rows((1, "sip:127.0.0.1:5071", 0, 0, "duid=GW1"),
                      (1, "sip:127.0.0.1:5072", 0, 0, "duid=gw2")))  # fmt: skip
    assert e.set_duid_state(1, "gw1", DS_INACTIVE)
    assert e.find(1, "sip:127.0.0.1:5071").flags == DS_INACTIVE
    assert not e.set_duid_state(1, "gw3", 0) and not e.set_duid_state(2, "gw1", 0)
    assert e.select(1, 8).dest.uri == "sip:127.0.0.1:5072"
