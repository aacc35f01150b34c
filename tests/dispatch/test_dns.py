"""Dispatcher destinations resolved at run time against a DNS server on loopback: A for
names with a port, SRV first for names without, a changed record picked up by the next
refresh, a failed lookup keeping the last address, IP literals and the no-DNS flag never
asked, and the event loop serving other work while a lookup waits."""

from __future__ import annotations

import asyncio

from kamtool.core.dispatch.engine import DsEngine
from kamtool.core.dispatch.resolve import DNS_INIT, DNS_QSRV, DNS_TIMER, send_port
from kamtool.proxy.ds_dns import AsyncDnsResolver, DnsRefresher, refresh
from tests.support.dns_server import DnsServer

ROWS = [
    (1, "sip:gw.test:5080", 0, 0, "", ""),
    (1, "sip:srv.test", 0, 0, "", ""),
    (1, "sip:tcp.test;transport=tcp", 0, 0, "", ""),
    (1, "sip:127.0.0.9:5090", 0, 0, "", ""),
    (1, "sip:nodns.test", 16, 0, "", ""),
]


def run(coro):
    return asyncio.run(coro)


def test_a_srv_and_refresh():
    with DnsServer() as srv:
        srv.records[("gw.test.", "A")] = ["127.0.0.5"]
        srv.records[("_sip._udp.srv.test.", "SRV")] = ["20 10 5071 late.test.",
                                                       "10 60 5070 first.test."]  # fmt: skip
        srv.records[("first.test.", "A")] = ["127.0.0.6"]
        srv.records[("late.test.", "A")] = ["127.0.0.7"]
        srv.records[("tcp.test.", "A")] = ["127.0.0.8"]  # no _sip._tcp record: A, port 5060
        engine = DsEngine(ROWS)
        resolver = AsyncDnsResolver([("127.0.0.1", srv.port)])
        mode = DNS_INIT | DNS_TIMER | DNS_QSRV
        changed = run(refresh(engine, resolver, mode, interval=0))
        assert len(changed) == 3
        got = {d.uri: (d.address, send_port(d)) for d in engine.destinations()}
        assert got == {
            "sip:gw.test:5080": ("127.0.0.5", 5080),
            "sip:srv.test": ("127.0.0.6", 5070),
            "sip:tcp.test;transport=tcp": ("127.0.0.8", 5060),
            "sip:127.0.0.9:5090": ("127.0.0.9", 5090),
            "sip:nodns.test": (None, 5060),
        }
        assert ("_sip._tcp.tcp.test.", "SRV") in srv.queries
        assert not any(name.startswith(("nodns", "_sip._udp.gw")) for name, _ in srv.queries)
        # records change: the next refresh follows them, SRV included
        srv.records[("gw.test.", "A")] = ["127.0.0.15"]
        srv.records[("_sip._udp.srv.test.", "SRV")] = ["10 60 5075 late.test."]
        assert sorted(run(refresh(engine, resolver, mode, interval=0))) == [
            "sip:gw.test:5080", "sip:srv.test"]  # fmt: skip
        assert engine.find(1, "sip:srv.test").address == "127.0.0.7"
        assert send_port(engine.find(1, "sip:srv.test")) == 5075
        assert engine.is_from("127.0.0.15", 5080) == 1
        # the name disappears: the last address stays
        del srv.records[("gw.test.", "A")]
        run(refresh(engine, resolver, mode, interval=0))
        assert engine.find(1, "sip:gw.test:5080").address == "127.0.0.15"


def test_without_srv_mode_names_get_a_records_only():
    with DnsServer() as srv:
        srv.records[("srv.test.", "A")] = ["127.0.0.20"]
        engine = DsEngine(ROWS[1:2])
        run(refresh(engine, AsyncDnsResolver([("127.0.0.1", srv.port)]), DNS_INIT))
        assert engine.find(1, "sip:srv.test").address == "127.0.0.20"
        assert [t for _, t in srv.queries] == ["A"]
        # init mode: resolved names are not asked again
        run(refresh(engine, AsyncDnsResolver([("127.0.0.1", srv.port)]), DNS_INIT))
        assert srv.queries[("srv.test.", "A")] == 1


def test_system_resolver_reads_the_hosts_file():
    engine = DsEngine([(1, "sip:localhost:5060", 0, 0, "", "")])
    run(refresh(engine, AsyncDnsResolver(), DNS_INIT))
    assert engine.find(1, "sip:localhost:5060").address in ("127.0.0.1", "::1")


def test_a_waiting_lookup_does_not_block_the_loop():
    with DnsServer() as srv:
        srv.records[("gw.test.", "A")] = ["127.0.0.5"]
        srv.hold.set()
        engine = DsEngine(ROWS[:1])

        async def scenario() -> list[str]:
            refresher = DnsRefresher(
                lambda: engine, AsyncDnsResolver([("127.0.0.1", srv.port)]), DNS_INIT, 600
            )
            refresher.start()
            ticks = []
            held = await asyncio.to_thread(srv.held.wait, 10)
            assert held  # the lookup is waiting on the server now
            for n in range(5):  # the loop keeps running other tasks meanwhile
                await asyncio.sleep(0)
                ticks.append(str(n))
            assert engine.find(1, "sip:gw.test:5080").address is None
            srv.hold.clear()
            for _ in range(200):
                if engine.find(1, "sip:gw.test:5080").address:
                    break
                await asyncio.sleep(0.05)
            await refresher.stop()
            return ticks

        assert run(scenario()) == ["0", "1", "2", "3", "4"]
        assert engine.find(1, "sip:gw.test:5080").address == "127.0.0.5"


def test_the_same_srv_records_through_both_resolvers():
    """sipreq's resolver (RFC 2782 order, every target) and the dispatcher's (Kamailio's
    one pick: lowest priority, highest weight) read SRV answers through one parser
    (kamtool.core.sipdns); a "." target means no service for both."""
    import random

    from kamtool.core.dispatch.resolve import Query
    from kamtool.core.sipresolve import resolve

    with DnsServer() as srv:
        srv.records[("_sip._udp.pair.test.", "SRV")] = [
            "10 10 5071 light.test.", "10 90 5070 heavy.test.", "20 0 5072 last.test."]  # fmt: skip
        srv.records[("_sip._udp.none.test.", "SRV")] = ["0 0 0 ."]
        for name, ip in (("light", "127.0.0.11"), ("heavy", "127.0.0.12"), ("last", "127.0.0.13")):
            srv.records[(f"{name}.test.", "A")] = [ip]
        srv.records[("none.test.", "A")] = ["127.0.0.14"]
        server = ("127.0.0.1", srv.port)
        targets = resolve("pair.test", None, transport="udp", dns_server=server,
                          rng=random.Random(1))  # fmt: skip
        assert {t.text for t in targets[:2]} == {"udp:127.0.0.11:5071", "udp:127.0.0.12:5070"}
        assert targets[2].text == "udp:127.0.0.13:5072" and len(targets) == 3
        dispatcher = AsyncDnsResolver([server])
        answer = run(dispatcher.lookup(Query("pair.test", "_sip._udp.pair.test")))
        assert (answer.address, answer.port) == ("127.0.0.12", 5070)
        answer = run(dispatcher.lookup(Query("none.test", "_sip._udp.none.test")))
        assert (answer.address, answer.port) == ("127.0.0.14", 0)  # the name's own A record
        [only] = resolve("none.test", None, transport="udp", dns_server=server)
        assert (only.text, only.how) == ("udp:127.0.0.14:5060", "A/AAAA")
