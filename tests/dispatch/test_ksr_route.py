"""``KSR.dispatcher`` in a route script on ``kamtool serve --route``: the destinations it
picks are the engine's (which tests/dispatch/test_kamailio_agrees.py holds to Kamailio's),
for hash algorithms over the request's From URI and Call-ID, round-robin with
ds_next_dst and ds_mark_dst, ds_select_domain's R-URI, and ds_is_from_list."""

from __future__ import annotations

from pathlib import Path

import pytest

from kamtool.core.dispatch.engine import DsEngine
from kamtool.core.dispatch.model import DsRequest
from kamtool.core.dispatch.uris import domain_ruri
from tests.proxy.harness import UdpClient

SCRIPT = Path(__file__).with_name("scripts") / "ds_route.py"
ROWS = [(1, f"sip:127.0.0.1:{p}", 0, 0, "", "") for p in (5401, 5402, 5403, 5404)]


@pytest.fixture
def routed(start_proxy, proxy_db):
    from tests.dispatch.test_cli import kt

    for s, uri, f, p, a, _ in ROWS:
        assert kt(proxy_db, "dispatcher", "add", str(s), uri, str(f), str(p), a,
                  "--no-reload").exit_code == 0  # fmt: skip
    proxy = start_proxy(route=str(SCRIPT))
    client = UdpClient(proxy.port)
    yield proxy, client
    client.close()


def ask(proxy, client, headers, from_user="1001", call_id=None, ruri=None):
    resp = client.ask("OPTIONS", ruri or f"sip:900@127.0.0.1:{proxy.port}",
                      from_user=from_user, headers=headers, call_id=call_id)  # fmt: skip
    return resp.status, resp.reason


def test_route_script_dispatches_as_the_engine(routed):
    proxy, client = routed
    engine = DsEngine(ROWS)
    for n in range(8):
        user, call_id = f"user{n}", f"call-{n}@x"
        for alg in (0, 1):
            got = ask(proxy, client, ["X-Ds-Set: 1", f"X-Ds-Alg: {alg}"], user, call_id)
            req = DsRequest(call_id=call_id, from_uri=f"sip:{user}@127.0.0.1")
            assert got == (200, engine.select(1, alg, req).dest.uri), (alg, user)
    # round-robin walks on; ds_next_dst gives the next record; ds_mark_dst takes it out
    rr = [ask(proxy, client, ["X-Ds-Set: 1", "X-Ds-Alg: 4"])[1] for _ in range(5)]
    assert rr == [engine.select(1, 4).dest.uri for _ in range(5)]
    sel = engine.select(1, 8)
    assert ask(proxy, client, ["X-Ds-Set: 1", "X-Ds-Alg: 8", "X-Ds-Next: 1",
                               "X-Ds-Mark: ip"])[1] == sel.failover[1].uri  # fmt: skip
    assert sel.failover[1].uri not in [
        ask(proxy, client, ["X-Ds-Set: 1", "X-Ds-Alg: 4"])[1] for _ in range(6)
    ]
    assert ask(proxy, client, ["X-Ds-Set: 1", "X-Ds-Alg: 8", "X-Ds-Next: 9"])[0] == 410
    assert ask(proxy, client, ["X-Ds-Set: 2", "X-Ds-Alg: 4"])[0] == 404
    ruri = f"sip:900@127.0.0.1:{proxy.port};x=y"
    code, new_ruri = ask(proxy, client, ["X-Ds-Set: 1", "X-Ds-Alg: 8", "X-Ds-Mode: domain"],
                         ruri=ruri)  # fmt: skip
    assert (code, new_ruri) == (200, domain_ruri(ruri, sel.dest.uri))
    assert ask(proxy, client, ["X-Ds-From: 1"]) == (404, "not")  # the client is no gateway
