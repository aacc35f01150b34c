"""The dispatcher module's own logic on a real SQLite table: load order, Kamailio's list order,
selection by algorithm with the failover list, the state machine with its thresholds and
probe results. The calls through the proxy are in test_dispatcher_calls.py."""

from __future__ import annotations

import random
from collections import Counter

import peewee
import pytest

from kamtool.db import schema
from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from kamtool.db.models import make_model
from kamtool.errors import ConfigError
from kamtool.proxy.config import ProxyConfig
from kamtool.proxy.dispatcher import (
    DS_INACTIVE,
    DS_PROBING,
    DS_TRYING,
    Dispatcher,
    DispatcherSettings,
    call_id_hash,
    canonical_state,
    parse_reply_codes,
)

A, B, C = "sip:127.0.0.1:5062", "sip:127.0.0.1:5063", "sip:127.0.0.1:5064"


def table(tmp_path, rows):
    db = open_database("sqlite:///" + str(tmp_path / "ds.sqlite"))
    create_tables(db, tables=[schema.tables()["dispatcher"]])
    model = make_model(schema.tables()["dispatcher"], db)
    for setid, uri, flags, priority, attrs in rows:
        model.insert(setid=setid, destination=uri, flags=flags, priority=priority,
                     attrs=attrs, description="").execute()  # fmt: skip
    return db


def uris(dests):
    return [d.uri for d in dests]


def flags(ds, set_id=1):
    return {d.uri: d.flags for d in ds.sets()[set_id]}


def test_order_within_a_set_and_of_the_sets(tmp_path):
    db = table(tmp_path, [
        (2, C, 0, 0, ""), (1, B, 0, 5, ""), (3, A, 0, 0, ""), (1, A, 0, 10, "weight=50"),
        (1, C, 0, 5, ""), (1, "127.0.0.1:5070", 0, 0, ""), (1, "sip:[bad", 0, 0, ""),
    ])  # fmt: skip
    ds = Dispatcher(db)
    # sets in the AVL post-order Kamailio prints: inserted 2, 1, 3 -> root 2 -> 1, 3, 2
    assert list(ds.sets()) == [1, 3, 2]
    # priority descending; equal priorities: the row loaded last first; "sip:" added;
    # the URI that cannot be parsed is skipped
    assert uris(ds.sets()[1]) == [A, C, B, "sip:127.0.0.1:5070"]
    assert ds.sets()[1][0].dest == ("udp", "127.0.0.1", 5062)
    assert ds.sets()[1][0].weight == 50


@pytest.mark.parametrize(
    ("inserted", "printed"),
    [([1, 2], [2, 1]), ([1, 2, 3], [1, 3, 2]), ([1, 2, 3, 4, 5], [1, 3, 5, 4, 2]),
     ([3, 2, 1], [1, 3, 2]), ([10, 20, 15], [10, 20, 15])],
)  # fmt: skip
def test_set_order_is_the_avl_post_order(tmp_path, inserted, printed):
    db = table(tmp_path, [(s, A, 0, 0, "") for s in inserted])
    assert list(Dispatcher(db).sets()) == printed


def test_round_robin_alternates_skips_unusable_and_lists_the_failover(tmp_path):
    ds = Dispatcher(table(tmp_path, [(1, A, 0, 10, ""), (1, B, 0, 5, ""), (1, C, 0, 0, "")]))
    assert [uris(ds.select(1, 4))[0] for _ in range(4)] == [A, B, C, A]
    assert uris(ds.select(1, 4)) == [B, C, A]  # chosen, those after it, those before it
    assert ds.set_state("ip", 1, C)
    assert [uris(ds.select(1, 4)) for _ in range(3)] == [[A, B], [B, A], [A, B]]
    assert ds.set_state("d", 1, A) and ds.set_state("i", 1, B)
    assert ds.select(1, 4) is None
    assert ds.select(7, 4) is None  # no such set
    assert ds.set_state("t", 1, B)  # trying is still selectable
    assert uris(ds.select(1, 4)) == [B]


def test_hash_first_and_weight_algorithms(tmp_path):
    rows = [(1, A, 0, 10, "weight=25"), (1, B, 0, 5, "weight=75")]
    ds = Dispatcher(table(tmp_path, rows), rng=random.Random(7))
    # 0: the same Call-ID always lands on the same destination, the index is hash % n
    for cid in ("a84b4c76e66710@pc33.atlanta.com", "1-12442@127.0.0.1", "x"):
        picked = {uris(ds.select(1, 0, cid))[0] for _ in range(3)}
        assert picked == {[A, B][call_id_hash(cid) % 2]}
    # 8: the first usable by priority
    assert uris(ds.select(1, 8)) == [A, B]
    ds.set_state("ip", 1, A)
    assert uris(ds.select(1, 8)) == [B]
    ds.set_state("a", 1, A)
    # 9: exactly the weights over each 100 calls
    assert Counter(uris(ds.select(1, 9))[0] for _ in range(100)) == {A: 25, B: 75}


def test_call_id_hash_is_kamailios():
    # values of Kamailio 5.6's ds_get_hash (dispatcher.hash RPC, see the interop test)
    assert call_id_hash("") == 1
    assert call_id_hash("a") == (97 ^ (97 >> 3)) + ((97 ^ (97 >> 3)) >> 11)
    assert call_id_hash("  abcd ") == call_id_hash("abcd")  # trimmed


def test_state_machine_thresholds(tmp_path):
    settings = DispatcherSettings(probing_threshold=2, inactive_threshold=2)
    ds = Dispatcher(table(tmp_path, [(1, A, 0, 0, ""), (1, B, 8, 0, "")]), settings)
    assert flags(ds) == {A: "AX", B: "AP"}  # the flags column: 8 = probing
    ds.probe_result(1, A, 408)
    assert flags(ds)[A] == "TP"  # one failure: trying (still selectable)
    ds.probe_result(1, A, 503)
    assert flags(ds)[A] == "IP"  # the second: inactive
    ds.probe_result(1, A, 200)
    assert flags(ds)[A] == "IP"  # one success is not enough with inactive_threshold 2
    ds.probe_result(1, A, 408)
    assert flags(ds)[A] == "IP"  # a failure while inactive keeps it inactive
    ds.probe_result(1, A, 404)
    ds.probe_result(1, A, 302)
    assert flags(ds)[A] == "AP"  # two accepted replies (code=404, class=3) in a row
    # ds_mark_dst("ip") after a failed call
    assert ds.mark(ds.find(1, B), "ip")
    assert flags(ds)[B] == "IP"
    # disabled by the operator: probe results change nothing
    ds.set_state("d", 1, A)
    ds.probe_result(1, A, 200)
    assert flags(ds)[A] == "DX"
    # a destination removed by a reload: its late probe result is dropped
    ds.probe_result(1, "sip:10.9.9.9", 200)


def test_probing_modes_and_probe_rounds(tmp_path):
    db = table(tmp_path, [(1, A, 0, 0, ""), (1, B, DS_INACTIVE | DS_PROBING, 0, ""),
                          (1, C, 4, 0, "")])  # fmt: skip
    probed: list[str] = []

    def probe(dst, done):
        probed.append(dst.uri)
        done(200)

    for mode, expected in ((1, [A, B]), (2, [B]), (3, [B]), (0, [])):
        ds = Dispatcher(db, DispatcherSettings(probing_mode=mode))
        ds._probe = probe
        probed.clear()
        ds.probe_now()
        assert sorted(probed) == sorted(expected), mode  # never the disabled C
    ds = Dispatcher(db, DispatcherSettings(probing_mode=1))
    ds._probe = probe
    ds.probe_now()
    assert flags(ds) == {A: "AP", B: "AP", C: "DX"}
    ds.ping_active = False
    probed.clear()
    assert ds.probe_now() == 0 and probed == []
    # mode 2: an inactive destination that answers again drops the probing flag
    ds = Dispatcher(db, DispatcherSettings(probing_mode=2))
    ds.probe_result(1, B, 200)
    assert flags(ds)[B] == "AX"
    ds.probe_result(1, A, 408)
    assert flags(ds)[A] == "IP"


def test_rpc_states_and_reply_codes():
    assert canonical_state("ip") == "ip" and canonical_state("0P") == "ip"
    assert canonical_state("1") == "a" and canonical_state("AP") == "ap"
    assert canonical_state("dp") == "d" and canonical_state("3p") == "tp"
    assert canonical_state("x") is None and canonical_state("") is None
    codes, classes = parse_reply_codes("class=2;code=403;code=404;code=488;class=3;code=99")
    assert codes == {403, 404, 488} and classes == {2, 3}
    with pytest.raises(ValueError):
        parse_reply_codes("cod=403")
    ds = Dispatcher(load=False)
    assert ds.reply_accepted(488) and ds.reply_accepted(301) and not ds.reply_accepted(408)


def test_reload_restores_the_table_and_keeps_sets_when_the_table_is_gone(tmp_path):
    db = table(tmp_path, [(1, A, 0, 0, ""), (1, B, 2, 0, "")])
    ds = Dispatcher(db)
    ds.set_state("ip", 1, "all")
    # trying asked of an inactive destination: inactive, and the probing bit goes (not asked)
    assert ds.update_state(1, A, DS_TRYING) and flags(ds)[A] == "IX"
    ds.reload()
    assert flags(ds) == {A: "AX", B: "TX"}
    db.execute_sql("DROP TABLE dispatcher")
    with pytest.raises(peewee.OperationalError):
        ds.reload()
    assert flags(ds) == {A: "AX", B: "TX"}
    ds.load()  # the proxy's variant logs instead
    assert flags(ds) == {A: "AX", B: "TX"}


@pytest.mark.parametrize(
    "change",
    [{"dispatch_alg": 5}, {"ds_probing_mode": 4}, {"ds_probing_threshold": 0},
     {"ds_ping_reply_codes": "klass=2"}, {"dispatch_pattern": "(["}, {"ds_ping_interval": -1}],
)  # fmt: skip
def test_bad_dispatcher_settings_are_config_errors(change):
    with pytest.raises(ConfigError):
        ProxyConfig(**change)


def test_toml_settings_and_serve_flags(tmp_path):
    from kamtool.config import load_settings
    from kamtool.proxy.config import proxy_config
    from tests.support.cli import invoke

    cfg = tmp_path / "k.toml"
    cfg.write_text(
        "[proxy]\ndispatch_set = 3\ndispatch_alg = 9\nds_ping_interval = 2.5\n"
        'ds_ping_from = "sip:ping@example.com"\nds_probing_mode = 2\n'
        'ds_ping_reply_codes = "class=2"\ndispatch_pattern = "^00"\n'
    )
    pc = proxy_config(load_settings(config_file=cfg))
    assert (pc.dispatch_set, pc.dispatch_alg, pc.dispatch_pattern) == (3, 9, "^00")
    s = pc.dispatcher_settings
    assert (s.ping_interval, s.ping_from, s.probing_mode, s.ping_reply_codes) == (
        2.5, "sip:ping@example.com", 2, "class=2",
    )  # fmt: skip
    flags = proxy_config(load_settings(config_file=cfg), dispatch_set=1, dispatch_alg=4)
    assert (flags.dispatch_set, flags.dispatch_alg) == (1, 4)  # the flags win
    cfg.write_text('[proxy]\nds_ping_interval = "often"\n')
    with pytest.raises(ConfigError):
        proxy_config(load_settings(config_file=cfg))
    res = invoke("--db", f"sqlite:///{tmp_path}/k.sqlite", "serve", "--dispatch-alg", "5")
    assert res.exit_code == 8
    assert "dispatch_alg 5 is not supported" in res.stderr
