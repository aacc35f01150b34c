"""Chaos: big JSON-RPC requests must not stop SIP or eat memory (issue #12, item 2).

Reproduced as the issue did, scaled to stay bounded: a location table of 20,000
contacts, a full ``ul.dump`` over HTTP, FIFO and datagram, a batch of 200 ``ul.dump``
(1 GB of answer before) and a batch of 1,000 heavy calls, while an OPTIONS probe asks
the proxy every 10 ms. What is asserted is behaviour, not speed (bench/rpc_stall.py has
the delays): SIP answers keep arriving *while* each big answer is being produced, every
probe is answered, the costly batch is refused at once, and RSS grows by far less than
500 MB. Kamailio 5.6 answers a batch with ``{}`` without running it (see dispatch.py).
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time

import pytest

from kamtool.rpc.client import RpcClient
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.stall_probe import OptionsProbe, fill_contacts, post, rss_kb

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

CONTACTS = 20_000


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    base = tmp_path_factory.mktemp("stall")
    with KamtoolProxy(base, seed=False, extra_args=("--no-pike",)) as p:
        fill_contacts(p.rpc_http_url, CONTACTS)
        with OptionsProbe(p.sip_port, every=0.01) as probe:
            time.sleep(0.2)
            yield p, probe


def _assert_sip_flowed(probe: OptionsProbe, start: float, end: float) -> None:
    time.sleep(0.3)  # answers of the last probes
    assert probe.answered_between(start, end) >= 5, "SIP was not answered during the request"
    delays = probe.delays(start, end)
    assert delays and all(math.isfinite(d) for d in delays), "a probe was never answered"


def test_full_dump_over_http_streams_while_sip_flows(loaded):
    proxy, probe = loaded
    conn = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=60)
    body = json.dumps({"jsonrpc": "2.0", "method": "ul.dump", "id": 1})
    start = time.monotonic()
    conn.request("POST", "/RPC", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    first = resp.read(1)
    first_at = time.monotonic()
    text = first + resp.read()
    end = time.monotonic()
    conn.close()
    dump = json.loads(text)["result"]["Domains"][0]["Domain"]
    assert dump["Stats"]["Records"] == CONTACTS and len(dump["AoRs"]) == CONTACTS
    _assert_sip_flowed(probe, first_at, end)  # between the first and the last byte
    assert probe.answered_between(start, end) >= 5


@pytest.mark.parametrize("scheme", ["fifo", "unix"])
def test_full_dump_over_fifo_and_datagram_while_sip_flows(loaded, scheme):
    proxy, probe = loaded
    path = proxy.fifo_path if scheme == "fifo" else proxy.dgram_path
    client = RpcClient(f"{scheme}:{path}", timeout=60)
    start = time.monotonic()
    dump = client.call("ul.dump")["Domains"][0]["Domain"]
    end = time.monotonic()
    assert len(dump["AoRs"]) == CONTACTS
    _assert_sip_flowed(probe, start, end)


def test_a_batch_of_200_dumps_is_refused_by_cost(loaded):
    proxy, probe = loaded
    before, _ = rss_kb(proxy.proc.pid)
    batch = [{"jsonrpc": "2.0", "method": "ul.dump", "id": i} for i in range(200)]
    answer = json.loads(post(proxy.rpc_http_url, batch))
    assert answer["error"]["code"] == -32600 and "too costly" in answer["error"]["message"]
    after, _ = rss_kb(proxy.proc.pid)
    assert after - before < 50 * 1024  # KiB: nothing was built
    # a batch within the bound runs
    small = [{"jsonrpc": "2.0", "method": "ul.dump", "params": ["brief"], "id": 1},
             {"jsonrpc": "2.0", "method": "core.version", "id": 2}]  # fmt: skip
    ran = json.loads(post(proxy.rpc_http_url, small))
    assert [a["id"] for a in ran] == [1, 2] and all("result" in a for a in ran)


def test_a_heavy_batch_yields_to_sip_and_stops_at_its_budget(loaded):
    proxy, probe = loaded
    before, _ = rss_kb(proxy.proc.pid)
    batch = [{"jsonrpc": "2.0", "method": "stats.get_statistics", "params": ["all"], "id": i}
             for i in range(1000)]  # fmt: skip
    start = time.monotonic()
    answers = json.loads(post(proxy.rpc_http_url, batch))
    end = time.monotonic()
    assert [a["id"] for a in answers] == list(range(1000))  # every call answered, in order
    ran = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    assert ran and all(a["error"]["code"] == -32000 for a in refused)
    if refused:  # past the budget nothing more ran: the refused ones are the last ones
        assert answers.index(refused[0]) == len(ran)
    _assert_sip_flowed(probe, start, end)
    after, _ = rss_kb(proxy.proc.pid)
    assert after - before < 500 * 1024


def test_parallel_dumps_keep_memory_bounded(loaded):
    proxy, probe = loaded
    before, _ = rss_kb(proxy.proc.pid)
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(proxy.proc.pid)[0])
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    dump = {"jsonrpc": "2.0", "method": "ul.dump", "id": 1}
    sizes: list[int] = []
    threads = [threading.Thread(target=lambda: sizes.append(len(post(proxy.rpc_http_url, dump))))
               for _ in range(4)]  # fmt: skip
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    end = time.monotonic()
    done.set()
    watcher.join()
    assert len(sizes) == 4 and min(sizes) > 10_000_000
    # four answers of ~18 MB each: never held whole (the old code built each as objects)
    assert peak[0] - before < 100 * 1024
    _assert_sip_flowed(probe, start, end)
