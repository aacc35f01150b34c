"""``kamtool serve`` probing two destinations, one answering 300 ms late: with
``ds_ping_latency_stats`` its dispatcher.list shows that latency (as Kamailio's does in
test_latency_kamailio.py) and algorithm 13 sends calls to the fast one."""

from __future__ import annotations

import time

import pytest

from kamtool.core.dispatch.model import DS_PROBING
from tests.dispatch.test_latency_kamailio import SLOW_MS, DelayPeer

pytestmark = pytest.mark.slow


def test_kamtool_measures_a_slow_destination(start_proxy, proxy_db):
    from tests.dispatch.test_cli import kt

    fast, slow = DelayPeer(0), DelayPeer(SLOW_MS)
    try:
        for peer in (slow, fast):
            assert kt(proxy_db, "dispatcher", "add", "1", peer.uri, str(DS_PROBING), "10",
                      "--no-reload").exit_code == 0  # fmt: skip
        proxy = start_proxy(ds_ping_interval=0.5, ds_ping_latency_stats=True)
        deadline = time.monotonic() + 30
        while slow.answered < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slow.answered >= 4
        time.sleep(SLOW_MS / 1000 + 0.2)  # the last answer is in

        def look():
            ds = proxy.server.dispatcher
            stats = {d.uri: d.latency.as_rpc() for d in ds.destinations()}
            return stats, [ds.select(1, 13)[0].uri for _ in range(4)]

        stats, chosen = proxy.call(look)
    finally:
        fast.close()
        slow.close()
    assert SLOW_MS <= stats[slow.uri]["AVG"] < SLOW_MS + 150, stats
    assert stats[fast.uri]["AVG"] < 100 and stats[slow.uri]["TIMEOUT"] == 0
    assert chosen == [fast.uri] * 4
