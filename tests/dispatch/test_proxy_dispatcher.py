"""The proxy's dispatcher on the engine: names resolved at load (and, inside the event loop,
after it without blocking), probe answer times feeding the latency statistics, and the
whole request reaching the URI hash algorithms (what route scripts give)."""

from __future__ import annotations

import asyncio

from kamtool.core.dispatch.model import DsRequest
from kamtool.proxy.dispatcher import Dispatcher

NAMED = (1, "sip:localhost:5070", 0, 0, "", "")
IP = (1, "sip:127.0.0.1:5071;transport=tcp", 0, 0, "", "")


def test_names_resolve_at_load_and_later_inside_the_loop():
    ds = Dispatcher(load=False)
    ds.replace([NAMED, IP])  # no loop running: looked up at once
    dests = {d.uri: d.dest for d in ds.destinations()}
    assert dests[IP[1]] == ("tcp", "127.0.0.1", 5071)
    assert dests[NAMED[1]] in (("udp", "127.0.0.1", 5070), ("udp", "::1", 5070))
    later = (1, "sip:localhost:5075", 0, 0, "", "")

    async def reload_in_loop():
        ds.replace([IP, later])
        serving = [d.uri for d in ds.destinations()]  # the lookup runs: the old sets serve
        await ds._dns_task
        return serving, ds.find(1, later[1]).dest

    serving, after = asyncio.run(reload_in_loop())
    assert sorted(serving) == sorted([NAMED[1], IP[1]])
    assert after is not None and after[2] == 5075


def test_names_that_do_not_resolve_are_left_out_unless_flagged():
    """As Kamailio refuses them at load ("could not resolve"); flag 16 keeps one without
    DNS. The rows after it keep their places and addresses."""
    from kamtool.proxy.ds_dns import AsyncDnsResolver
    from tests.support.dns_server import DnsServer

    with DnsServer() as srv:
        srv.records[("good.test.", "A")] = ["127.0.0.41"]
        ds = Dispatcher(load=False, resolver=AsyncDnsResolver([("127.0.0.1", srv.port)]))
        ds.replace([(1, "sip:gone.test:5060", 0, 0, "", ""),
                    (1, "sip:good.test:5061", 0, 0, "", ""),
                    (1, "sip:nodns.test:5062", 16, 0, "", ""), IP])  # fmt: skip
    got = {d.uri: d.dest for d in ds.destinations()}
    assert got == {"sip:good.test:5061": ("udp", "127.0.0.41", 5061),
                   "sip:nodns.test:5062": None, IP[1]: ("tcp", "127.0.0.1", 5071)}  # fmt: skip


def test_probe_answer_times_feed_latency(monkeypatch):
    import kamtool.proxy.dispatcher as module

    ds = Dispatcher(load=False)
    ds.replace([(1, "sip:127.0.0.1:5072", 8, 10, "", "")])
    pending = []
    ds._probe = lambda dst, done: pending.append(done)
    clock = iter([100.0, 100.25, 200.0, 200.05])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    ds.probe_now()
    pending.pop()(200)  # answered after 250 ms
    ds.probe_now()
    pending.pop()(200)  # after 50 ms
    stats = ds.engine.find(1, "sip:127.0.0.1:5072").latency
    assert (stats.count, stats.min, stats.max, stats.average) == (2, 50, 250, 150.0)


def test_uri_hash_algorithms_take_the_request():
    ds = Dispatcher(load=False)
    ds.replace([(1, f"sip:127.0.0.1:{p}", 0, 0, "", "") for p in range(5080, 5085)])
    chosen = {
        ds.select(1, 1, request=DsRequest(from_uri=f"sip:user{n}@example.com"))[0].uri
        for n in range(20)
    }
    assert len(chosen) > 1  # spread by From user
    again = ds.select(1, 1, request=DsRequest(from_uri="sip:user3@example.com"))[0].uri
    assert again == ds.select(1, 1, request=DsRequest(from_uri="sip:user3@example.com"))[0].uri
    assert ds.select(1, 1) is None  # no From URI: nothing selected, as Kamailio


def test_dispatcher_list_matches_kamailios_with_latency_and_load(tmp_path):
    """kamtool's dispatcher.list with ds_ping_latency_stats and ds_hash_size: the same
    answer as Kamailio's for the same rows, after one call on each."""
    from kamtool.proxy.dispatcher import DispatcherSettings
    from kamtool.rpc.methods import Registry
    from kamtool.rpc.methods.dispatcher import register
    from tests.support.kamailio import kamailio_available
    from tests.support.require import unavailable

    if not kamailio_available():
        unavailable("kamailio 5.6 is not installed (scripts/test installs it)")
    from tests.support.kamailio_dispatcher import DispatcherKamailio

    rows = [(1, "sip:127.0.0.1:5091", 0, 5, "duid=a;latency=25;weight=40"),
            (1, "sip:127.0.0.1:5092", 8, 5, "duid=b;maxload=3"),
            (2, "sip:127.0.0.1:5093", 0, 0, ""), (1, "sip:127.0.0.1:5094", 0, 0, "")]  # fmt: skip
    ds = Dispatcher(load=False, settings=DispatcherSettings(latency_stats=True, hash_size=9))
    ds.replace([(*r, "") for r in rows])
    registry = Registry()
    register(registry, ds)
    with DispatcherKamailio(tmp_path, rows) as k:
        for n in range(2):
            k.select(1, 10, method="INVITE", call_id=f"c{n}")
            ds.select(1, 10, request=DsRequest(call_id=f"c{n}"))
        theirs = k.rpc("dispatcher.list")
    ours = asyncio.run(registry.call("dispatcher.list", []))
    assert ours == theirs
    set1 = {t["DEST"]["URI"]: t["DEST"] for t in theirs["RECORDS"][1]["SET"]["TARGETS"]}
    assert set1["sip:127.0.0.1:5091"]["LATENCY"]["EST"] == 25  # the latency attribute
    assert sum(d["RUNTIME"]["DLGLOAD"] for d in set1.values()) == 2


def test_timer_mode_follows_a_changed_record_on_the_running_loop():
    """ds_dns_mode 1+4+8: SRV for the name without a port at load, and a changed record
    picked up by the refresh timer while the loop runs."""
    from kamtool.proxy.dispatcher import DispatcherSettings
    from kamtool.proxy.ds_dns import AsyncDnsResolver
    from tests.support.dns_server import DnsServer

    with DnsServer() as srv:
        srv.records[("_sip._udp.gw.test.", "SRV")] = ["10 10 5090 a.gw.test."]
        srv.records[("a.gw.test.", "A")] = ["127.0.0.31"]
        settings = DispatcherSettings(ping_interval=0, dns_mode=1 | 4 | 8, dns_interval=0.05)
        ds = Dispatcher(load=False, settings=settings,
                        resolver=AsyncDnsResolver([("127.0.0.1", srv.port)]))  # fmt: skip

        async def run():
            ds.replace([(1, "sip:gw.test", 0, 0, "", "")])
            await ds._dns_task
            first = ds.find(1, "sip:gw.test").dest
            ds.start(None, lambda dst, done: None)
            srv.records[("a.gw.test.", "A")] = ["127.0.0.32"]
            for _ in range(200):
                if ds.find(1, "sip:gw.test").dest != first:
                    break
                await asyncio.sleep(0.02)
            ds.stop()
            return first, ds.find(1, "sip:gw.test").dest

        first, later = asyncio.run(run())
    assert first == ("udp", "127.0.0.31", 5090)
    assert later == ("udp", "127.0.0.32", 5090)


def test_set_duid_state_answers_as_kamailio(tmp_path):
    from kamtool.rpc.methods import Registry, RpcFault
    from kamtool.rpc.methods.dispatcher import register
    from tests.support.kamailio import kamailio_available
    from tests.support.require import unavailable

    if not kamailio_available():
        unavailable("kamailio 5.6 is not installed (scripts/test installs it)")
    from tests.support.kamailio_dispatcher import DispatcherKamailio

    rows = [
        (1, "sip:127.0.0.1:5095", 0, 0, "duid=GW1"),
        (1, "sip:127.0.0.1:5096", 0, 0, "duid=gw2"),
    ]
    ds = Dispatcher(load=False)
    ds.replace([(*r, "") for r in rows])
    registry = Registry()
    register(registry, ds)

    def ours(*params):
        try:
            return asyncio.run(registry.call("dispatcher.set_duid_state", list(params)))
        except RpcFault as fault:
            return (fault.code, fault.message)

    def theirs(k, *params):
        try:
            return k.rpc("dispatcher.set_duid_state", *params)
        except RuntimeError as exc:
            return (500, str(exc).split("'message': '")[1].split("'")[0])

    def flags(listing):
        return [t["DEST"]["FLAGS"] for t in listing["RECORDS"][0]["SET"]["TARGETS"]]

    with DispatcherKamailio(tmp_path, rows) as k:
        for params in (("ip", 1, "gw1"), ("d", 1, "GW2"), ("x", 1, "gw1"), ("a", 1, "gw9"),
                       ("a", 1, "all"), ("ip", 1, "gw2")):  # fmt: skip
            assert ours(*params) == theirs(k, *params), params
            assert flags(asyncio.run(registry.call("dispatcher.list", []))) == flags(
                k.rpc("dispatcher.list")), params  # fmt: skip


def test_proxy_settings_of_the_dispatcher():
    import pytest

    from kamtool.errors import ConfigError
    from kamtool.proxy.config import ProxyConfig

    for bad in ({"ds_dns_mode": -1}, {"ds_dns_mode": 16}, {"ds_dns_interval": 0},
                {"dispatch_alg": 10}, {"dispatch_alg": 12}):  # fmt: skip
        with pytest.raises(ConfigError):
            ProxyConfig(**bad)
    cfg = ProxyConfig(dispatch_alg=13, ds_dns_mode=13, ds_ping_latency_stats=True, ds_hash_size=4)
    s = cfg.dispatcher_settings
    assert (s.dns_mode, s.latency_stats, s.hash_size) == (13, True, 4)
    assert ProxyConfig(ds_dns_mode=3).dispatcher_settings.dns_mode == 3


def test_dns_mode_2_looks_names_up_again_when_addresses_are_matched():
    """ds_dns_mode 1+2: ds_is_from_list compares with the names' current addresses. The
    loop never waits for DNS: a match starts a lookup of the names whose answer is old
    (one round at a time) and the matches after it see the new record; without mode 2
    nothing is asked again."""
    from kamtool.proxy import ds_ksr
    from kamtool.proxy.dispatcher import DispatcherSettings
    from kamtool.proxy.ds_dns import AsyncDnsResolver
    from tests.support.dns_server import DnsServer

    async def settle(ds):
        while ds._on_match is not None and not ds._on_match.task.done():
            await asyncio.sleep(0.02)

    async def run(srv, mode):
        settings = DispatcherSettings(ping_interval=0, dns_mode=mode)
        ds = Dispatcher(load=False, settings=settings,
                        resolver=AsyncDnsResolver([("127.0.0.1", srv.port)]))  # fmt: skip
        ds.replace([(1, "sip:gw.test:5090", 0, 0, "", ""), (2, "sip:127.0.0.9:5090", 0, 0, "", "")])
        await ds._dns_task
        seen = [ds_ksr.is_from_list(ds, ("127.0.0.41", 5090))]
        await settle(ds)  # the answer of the load is younger than ON_MATCH_MIN_AGE: not asked
        asked = srv.queries[("gw.test.", "A")]
        if ds._on_match is not None:
            ds._on_match.min_age = 0.0  # from now on every answer is old enough
        srv.records[("gw.test.", "A")] = ["127.0.0.42"]
        seen.append(ds_ksr.is_from_list(ds, ("127.0.0.42", 5090)))  # the old answer still
        await settle(ds)
        seen.append(ds_ksr.is_from_list(ds, ("127.0.0.42", 5090)))
        seen.append(ds_ksr.is_from_list(ds, ("127.0.0.9", 5090)))  # IP literals never asked
        await settle(ds)
        return seen, srv.queries[("gw.test.", "A")] - asked

    with DnsServer() as srv:
        srv.records[("gw.test.", "A")] = ["127.0.0.41"]
        seen, asked = asyncio.run(run(srv, 1 | 2))
        assert seen == [1, None, 1, 2] and asked >= 1
    with DnsServer() as srv:
        srv.records[("gw.test.", "A")] = ["127.0.0.41"]
        assert asyncio.run(run(srv, 1)) == ([1, None, None, 2], 0)
