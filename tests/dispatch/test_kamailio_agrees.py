"""kamtool's dispatcher engine next to a real Kamailio 5.6 with the same destination list:
every algorithm chooses the same destination (hashes, round-robin, priority, call load,
latency priority) or spreads 1000 calls the same way (weight, relative weight, random),
and the failover lists ``ds_next_dst`` walks are identical, also when destinations are
marked inactive. Two module settings: failover (flags 2), and user-only URI hashing with
a default destination (flags 3, use_default 1)."""

from __future__ import annotations

import collections

import pytest

from kamtool.core.dispatch.engine import DsEngine
from kamtool.core.dispatch.model import DS_INACTIVE, DsParams, DsRequest, SelectError
from tests.support.kamailio import kamailio_available
from tests.support.require import unavailable

pytestmark = pytest.mark.kamailio


def d(port: int, params: str = "") -> str:
    return f"sip:127.0.0.1:{port}{params}"


TCP = d(5105, ";transport=tcp")
ROWS = [
    # set 1: hashes (one inactive destination: a hash landing on it walks on)
    (1, d(5101), 0, 0, ""), (1, d(5102), 0, 10, ""), (1, d(5103), DS_INACTIVE, 10, ""),
    (1, d(5104), 0, 5, ""), (1, TCP, 0, 0, ""), (1, d(5106), 0, 0, ""),
    # set 2: round-robin, failover, ds_next_dst
    (2, d(5201), 0, 0, ""), (2, d(5202), 0, 0, ""), (2, d(5203), 0, 0, ""),
    (2, d(5204), 0, 0, ""),
    # set 3: weight; set 4: relative weight (10/20/40: 14/28/57 slots, the last gets one more)
    (3, d(5301), 0, 0, "weight=50"), (3, d(5302), 0, 0, "weight=30"),
    (3, d(5303), 0, 0, "weight=20"),
    (4, d(5401), 0, 0, "rweight=10"), (4, d(5402), 0, 0, "rweight=20"),
    (4, d(5403), 0, 0, "rweight=40"),
    # set 5: call load
    (5, d(5501), 0, 0, "duid=a;maxload=2"), (5, d(5502), 0, 0, "duid=b;maxload=1"),
    (5, d(5503), 0, 0, "duid=c;maxload=1"),
    # set 6: parallel
    (6, d(5601), 0, 0, ""), (6, d(5602), 0, 5, ""), (6, d(5603), 0, 0, ""),
    # set 7: latency-adjusted priority (initial estimates by the latency attribute)
    (7, d(5701), 0, 10, "latency=50"), (7, d(5702), 0, 10, "latency=5"),
    (7, d(5703), 0, 20, "latency=100"), (7, d(5704), 0, 4, ""),
    # set 8: random
    (8, d(5801), 0, 0, ""), (8, d(5802), 0, 0, ""), (8, d(5803), 0, 0, ""),
    # set 9: attributes as the module reads them
    (9, d(5901), 0, 0, "weight=500;maxload=3x;duid=g1;rweight=50x"),
    (9, d(5902), 0, 0, "socket=udp:127.0.0.1:SIPPORT;obproxy=sip:127.0.0.1:5999;foo=bar;"),
    # set 10: ds_select_domain (R-URI mode)
    (10, d(5611, ";transport=tcp"), 0, 0, ""), (10, "sips:127.0.0.1:5612", 0, 0, ""),
    (10, d(5613, ";lr"), 0, 5, ""),
    # sets 11 and 12: no port, so the test client's address matches (ds_is_from_list)
    (11, "sip:127.0.0.1", 0, 0, ""), (12, "sip:127.0.0.1;transport=tcp", 0, 0, ""),
    (12, "sip:127.0.0.2", 0, 0, ""),
]  # fmt: skip

CALL_IDS = [
    "a", "ab", "abc", "abcd", "abcde", "1234567890@host", "f81d4fae-7dec-11d0-a765",
    "  padded-call-id  ", "x" * 63, "call-é-ü", "3c26700a6c16-ab@127.0.0.1",
] + [f"{n:08x}-{n * 7919 % 65536}@test.example" for n in range(40)]  # fmt: skip
URIS = [
    "sip:alice@example.com", "sip:alice@example.com:5060", "sip:alice@example.com:5070",
    "sips:alice@example.com:5061", "sips:alice@example.com:5060", "sip:bob@10.0.0.1;transport=tcp",
    "sip:example.com", "sip:+4930123456@gw.example.net;user=phone", "sip:carol:pw@[::1]:5062",
    "sip:Dave@Example.COM", "sip:1001@127.0.0.1:5090;ob", "sip:%41lice@example.com",
] + [f"sip:user{n}@host{n % 7}.example.org:{5060 + n % 3}" for n in range(30)]  # fmt: skip
CONFIGS = {"failover": (2, False), "user-only+default": (3, True)}


@pytest.fixture(scope="module", params=list(CONFIGS))
def kam(request, tmp_path_factory):
    if not kamailio_available():
        unavailable("kamailio 5.6 is not installed (scripts/test installs it)")
    from tests.support.kamailio_dispatcher import DispatcherKamailio

    flags, use_default = CONFIGS[request.param]
    base = tmp_path_factory.mktemp("ds")
    k = DispatcherKamailio(base, [], flags=flags, use_default=use_default)
    k.rows = ROWS  # the socket attribute needs the port, known once started: fixed below
    with k:
        rows = [(s, u, f, p, a.replace("SIPPORT", str(k.sip_port))) for s, u, f, p, a in ROWS]
        k.write_rows(rows)
        k.rpc("dispatcher.reload")
        k.engine_rows = rows
        yield k


def engine_for(k) -> DsEngine:
    return DsEngine(
        [(*row, "") for row in k.engine_rows],
        DsParams(flags=k.flags, use_default=k.use_default),
    )


def engine_answer(engine: DsEngine, set_id: int, alg: int, req: DsRequest, limit: int = 0):
    try:
        sel = engine.select(set_id, alg, req, limit)
    except SelectError:
        return 404, None, [], []
    return 200, sel.dest.uri, [x.uri for x in sel.failover], [x.uri for x in sel.branches]


def kam_answer(k, set_id: int, alg: int, **kw):
    code, du, failover, branches = k.select(set_id, alg, **kw)
    return code, (du if code == 200 else None), failover, branches


@pytest.mark.parametrize("alg", [0, 5, 7])
def test_string_hashes_choose_what_kamailio_chooses(kam, alg):
    engine = engine_for(kam)
    for call_id in CALL_IDS:
        key = call_id.strip() or "k"
        auth = f'Digest username="{key}", realm="r", nonce="n", uri="sip:x", response="0"'
        extra = {"X-Key": key, "Authorization": auth}
        req = DsRequest(call_id=call_id, auth_user=key, pv_value=key, method="OPTIONS")
        want = kam_answer(kam, 1, alg, call_id=call_id, extra=extra)
        assert engine_answer(engine, 1, alg, req) == want, (alg, call_id)


@pytest.mark.parametrize("alg", [1, 2, 3])
def test_uri_hashes_choose_what_kamailio_chooses(kam, alg):
    engine = engine_for(kam)
    chosen = set()
    for uri in URIS:
        req = DsRequest(from_uri=uri, to_uri=uri, ruri=uri, method="OPTIONS")
        want = kam_answer(kam, 1, alg, from_uri=uri, to_uri=uri, ruri=uri)
        assert engine_answer(engine, 1, alg, req) == want, (alg, uri)
        chosen.add(want[1])
    assert len(chosen) >= 3  # the table really spreads over the set


def test_round_robin_failover_and_next_dst(kam):
    engine = engine_for(kam)
    req = DsRequest(method="OPTIONS")
    for n in range(9):
        if n == 4:  # a destination dies and comes back: the same walk on both
            kam.rpc("dispatcher.set_state", "ip", 2, d(5202))
            engine.set_state(2, d(5202), DS_INACTIVE | 8)
        if n == 7:
            kam.rpc("dispatcher.set_state", "a", 2, d(5202))
            engine.set_state(2, d(5202), 0)
        assert engine_answer(engine, 2, 4, req) == kam_answer(kam, 2, 4), n
    # ds_next_dst walks the same list (and runs out at the same point)
    for steps in range(1, 5):
        code, du, _, _ = kam.select(2, 8, next_count=steps)
        sel = engine.select(2, 8, req)
        ours = [engine.next_dst(sel) for _ in range(steps)][-1]
        expected = (200, ours.uri) if ours else (410, None)
        assert (code, du if code == 200 else None) == expected, steps
    # a limit cuts the list
    assert engine_answer(engine, 2, 8, req, limit=2) == kam_answer(kam, 2, 8, limit=2)


def test_priority_order_with_dead_destinations(kam):
    engine = engine_for(kam)
    req = DsRequest(call_id="x", method="OPTIONS")
    for dead in ([], [d(5102)], [d(5102), d(5104)], [d(5101), d(5102), d(5104), TCP]):
        for uri in dead:
            kam.rpc("dispatcher.set_state", "i", 1, uri)
            engine.set_state(1, uri, DS_INACTIVE)
        for alg in (8, 0):
            assert engine_answer(engine, 1, alg, req) == kam_answer(kam, 1, alg, call_id="x")
    for uri in (d(5101), d(5102), d(5104), TCP):
        kam.rpc("dispatcher.set_state", "a", 1, uri)


def counts(answers) -> collections.Counter:
    return collections.Counter(answers)


@pytest.mark.slow
@pytest.mark.parametrize("set_id, alg", [(3, 9), (4, 11)])
def test_weights_spread_1000_calls_alike(kam, set_id, alg):
    """100 shuffled slots: every full hundred of calls has each destination exactly its
    share, on both (the order within a hundred is random on each)."""
    engine = engine_for(kam)
    req = DsRequest(method="OPTIONS")
    theirs = counts(kam.select(set_id, alg)[1] for _ in range(1000))
    ours = counts(engine.select(set_id, alg, req).dest.uri for _ in range(1000))
    assert theirs == ours, (theirs, ours)


@pytest.mark.slow
def test_random_spreads_1000_calls_alike(kam):
    engine = engine_for(kam)
    req = DsRequest(method="OPTIONS")
    theirs = counts(kam.select(8, 6)[1] for _ in range(1000))
    ours = counts(engine.select(8, 6, req).dest.uri for _ in range(1000))
    # with use_default the last destination in Kamailio's order (the first row) is only
    # a fallback
    wanted = [d(5802), d(5803)] if kam.use_default else [d(5801), d(5802), d(5803)]
    assert set(theirs) == set(ours) == set(wanted)
    share = 1000 / len(wanted)
    for uri in wanted:  # binomial: 5 standard deviations is far beyond chance
        assert abs(theirs[uri] - share) < 5 * (share * (1 - 1 / len(wanted))) ** 0.5
        assert abs(ours[uri] - share) < 5 * (share * (1 - 1 / len(wanted))) ** 0.5


def test_call_load_fills_up_moves_and_frees(kam):
    engine = engine_for(kam)
    if kam.use_default:
        return call_load_with_default(kam, engine)

    def both(call_id: str, method: str = "INVITE", next_count: int = 0):
        theirs = kam.select(5, 10, method=method, call_id=call_id, next_count=next_count)
        req = DsRequest(call_id=call_id, method=method)
        try:
            sel = engine.select(5, 10, req)
            for _ in range(next_count):
                engine.next_dst(sel)
            ours = (200, sel.dest.uri)
        except SelectError:
            ours = (404, None)
        assert (theirs[0], theirs[1] if theirs[0] == 200 else None) == ours, call_id
        return ours[1]

    held = [both(f"call-{n}") for n in range(5)]
    assert held[-1] is None  # every destination at its maxload: refused
    kam.request("BYE", {"X-Ds-Set": "5"}, call_id="call-0")
    engine.load_update("call-0", "BYE")
    assert both("call-5") == held[0]  # the slot the BYE freed
    assert both("options", method="OPTIONS") == d(5503)  # not an INVITE: first entry (the last row)
    for call_id in ("call-5", "call-1", "call-2", "call-3"):
        kam.request("BYE", {"X-Ds-Set": "5"}, call_id=call_id)
        engine.load_update(call_id, "BYE")
    both("moved", next_count=1)  # ds_next_dst moves the call's load to the next one
    loads = dlgloads(kam, 5)
    assert loads == {x.uri: x.dload for x in engine.sets[5].dests}
    assert sum(loads.values()) == 1


def dlgloads(kam, set_id: int) -> dict[str, int]:
    return {
        t["DEST"]["URI"]: t["DEST"]["RUNTIME"]["DLGLOAD"]
        for r in kam.rpc("dispatcher.list")["RECORDS"] if r["SET"]["ID"] == set_id
        for t in r["SET"]["TARGETS"]
    }  # fmt: skip


def call_load_with_default(kam, engine: DsEngine) -> None:
    """With use_default, Kamailio books the third call on the default destination (5501)
    but sends it to the first one (5503, already at its maxload); we send it to the
    default, which has room, and book it there."""
    theirs = [kam.select(5, 10, method="INVITE", call_id=f"dflt-{n}")[1] for n in range(3)]
    ours = [engine.select(5, 10, DsRequest(call_id=f"dflt-{n}")).dest.uri for n in range(3)]
    assert theirs == [d(5503), d(5502), d(5503)]
    assert dlgloads(kam, 5) == {d(5503): 1, d(5502): 1, d(5501): 1}
    assert ours == [d(5503), d(5502), d(5501)]
    assert {x.uri: x.dload for x in engine.sets[5].dests} == dlgloads(kam, 5)
    for n in range(3):
        kam.request("BYE", {"X-Ds-Set": "5"}, call_id=f"dflt-{n}")
    assert set(dlgloads(kam, 5).values()) == {0}


def test_parallel_branches(kam):
    engine = engine_for(kam)
    req = DsRequest(method="OPTIONS")
    assert engine_answer(engine, 6, 12, req) == kam_answer(kam, 6, 12)
    # an inactive destination after the first: Kamailio still forks to it (its bug), we don't
    kam.rpc("dispatcher.set_state", "i", 6, d(5601))
    engine.set_state(6, d(5601), DS_INACTIVE)
    code, du, _, branches = kam_answer(kam, 6, 12)
    ours = engine.select(6, 12, req)
    assert (code, du) == (200, ours.dest.uri)
    assert d(5601) in branches and d(5601) not in [b.uri for b in ours.branches]
    assert [b for b in branches if b != d(5601)] == [b.uri for b in ours.branches]
    kam.rpc("dispatcher.set_state", "a", 6, d(5601))


def test_latency_priority_round_robin(kam):
    engine = engine_for(kam)
    req = DsRequest(method="OPTIONS")
    for n in range(8):
        if n == 5:
            kam.rpc("dispatcher.set_state", "i", 7, d(5702))
            engine.set_state(7, d(5702), DS_INACTIVE)
        code, du, failover, branches = kam_answer(kam, 7, 13)
        # with use_default Kamailio lists some destinations twice (see the engine): once
        failover = list(dict.fromkeys(failover))
        assert engine_answer(engine, 7, 13, req) == (code, du, failover, branches), n
    kam.rpc("dispatcher.set_state", "a", 7, d(5702))


def test_attributes_read_as_kamailio_reads_them(kam):
    from kamtool.rpc.methods.dispatcher import parse_attrs as rpc_attrs

    engine = engine_for(kam)
    (record,) = [r for r in kam.rpc("dispatcher.list")["RECORDS"] if r["SET"]["ID"] == 9]
    raw = {uri: attrs for s, uri, _, _, attrs in kam.engine_rows if s == 9}
    for target in record["SET"]["TARGETS"]:
        dest = target["DEST"]
        assert rpc_attrs(raw[dest["URI"]]) == dest["ATTRS"]  # kamtool's dispatcher.list
        a = engine.find(9, dest["URI"]).attrs
        assert dest["ATTRS"] == {
            "BODY": a.body, "DUID": a.duid or None, "MAXLOAD": a.maxload, "WEIGHT": a.weight,
            "RWEIGHT": a.rweight, "SOCKET": a.socket or None, "SOCKNAME": a.sockname or None,
            "OBPROXY": a.obproxy or None,
        }, dest["URI"]  # fmt: skip


def test_hash_rpc_answers_as_kamailios(kam):
    import asyncio

    from kamtool.rpc.methods import Registry
    from kamtool.rpc.methods.dispatcher import register

    registry = Registry()
    register(registry, engine_for(kam))  # only dispatcher.hash is called: no proxy needed
    for params in ([7, "abc"], [16, "alice", "example.com:5070"], [0, "x" * 40], [3, "é"]):
        theirs = kam.rpc("dispatcher.hash", *params)
        assert asyncio.run(registry.call("dispatcher.hash", params)) == theirs, params


RURIS = [
    "sip:bob@old.example.com:5062;transport=tcp", "sips:alice:pw@h.example.com",
    "sip:h.example.com", "sip:+4930123;user=phone@gw.example.com;x=y",
]  # fmt: skip


@pytest.mark.parametrize("alg", [8, 12, 3])
def test_select_domain_rewrites_the_ruri_as_kamailio(kam, alg):
    from kamtool.core.dispatch.uris import branch_ruri, domain_ruri

    engine = engine_for(kam)
    for ruri in RURIS:
        code, new_ruri, _, branches = kam.select(10, alg, ruri=ruri, extra={"X-Ds-Mode": "domain"})
        sel = engine.select(10, alg, DsRequest(ruri=ruri, method="OPTIONS"))
        assert (code, new_ruri) == (200, domain_ruri(ruri, sel.dest.uri)), ruri
        assert branches == [branch_ruri(ruri, b.uri) for b in sel.branches], ruri
        assert bool(branches) == (alg == 12)


@pytest.mark.parametrize(
    ("rules", "limit"),
    [("2=8;6=8", 0), ("1=0;2=8", 0), ("99=4;6=8", 0), ("2=8;6=8;3=8", 5), ("99=8", 0)],
)
def test_select_routes_concatenates_sets(kam, rules, limit):
    engine = engine_for(kam)
    headers = {"X-Ds-Routes": rules, **({"X-Ds-Limit": str(limit)} if limit else {})}
    code, du, failover, _ = kam_answer(kam, 0, 0, call_id="routes", extra=headers)
    try:
        sel = engine.select_routes(rules, DsRequest(call_id="routes", method="OPTIONS"), limit)
        ours = (200, sel.dest.uri, [x.uri for x in sel.failover])
    except SelectError:
        ours = (404, None, [])
    if limit and len(failover) > limit:
        # Kamailio adds each later set's chosen record past the limit: we keep to it
        assert rules == "2=8;6=8;3=8" and len(failover) == limit + 1
        failover = failover[:limit]
    assert (code, du, failover) == ours


def test_is_from_list_finds_the_same_set(kam):
    engine = engine_for(kam)
    port = kam.sock.getsockname()[1]
    for group in (-1, 11, 12, 2, 99):
        code, reason, _ = kam.request("OPTIONS", {"X-Ds-From": str(group), "X-Ds-Set": "0"})
        ours = engine.is_from("127.0.0.1", port, "udp", set_id=group)
        expected = (200, str(ours if group == -1 else -1)) if ours is not None else (404, None)
        assert (code, reason if code == 200 else None) == expected, group
