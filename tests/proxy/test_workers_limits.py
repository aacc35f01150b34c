"""``kamtool serve --workers 2`` without Redis: call limits count the calls of both workers,
and a source pike bans on one worker is dropped by the other
(:mod:`kamtool.proxy.workers.shared_limits`). Real SIPp peers and sockets; the ports are
chosen so that the state is on one worker and the request that must see it on the other
(see tests/proxy/test_workers.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from kamtool.proxy.htable import HashTable, HtableStore
from kamtool.proxy.workers import WorkerContext
from kamtool.proxy.workers.channel import PROFILES, TABLES
from kamtool.proxy.workers.shared_limits import SharedLimits
from tests.proxy.conftest import need
from tests.proxy.harness import (
    UdpClient,
    caller_args,
    explain,
    sipp,
    sipp_peer,
    wait_for,
)
from tests.proxy.test_call_limits import refused_scenario
from tests.proxy.test_workers import held_call, options, port_on, register, rows, stat
from tests.support.kamtool_proxy import KamtoolProxy


def _start(tmp_path, *args: str, toml: str = "") -> KamtoolProxy:
    p = KamtoolProxy(tmp_path, extra_args=("--workers", "2", *args), proxy_toml=toml).start()
    assert wait_for(lambda: len(rows(p)) == 2, 20), p.log_text()[-3000:]
    return p


@pytest.mark.sipp
@pytest.mark.slow
def test_call_limit_counts_the_calls_of_both_workers(tmp_path):
    """max_calls_per_caller = 1: 1001's call held up on worker 1 makes worker 0 refuse
    1001's next call (403, nothing relayed), and worker 0's JSON-RPC counts it in
    ``dlg.profile_get_size``; once the held call ended, worker 0 lets the next through."""
    need("sipp")
    p = _start(tmp_path, "--no-pike", toml="max_calls_per_caller = 1")
    try:
        uas = port_on(p, 0)
        held_port = port_on(p, 1, avoid={uas})
        other = port_on(p, 0, avoid={uas, held_port})
        register(p, "1002", uas)
        with sipp_peer("uas_answer.xml", p.sip_port, uas), held_call(p, held_port) as held:
            assert rows(p)[0]["rcv_requests_invite"] == 0  # the call is on worker 1
            assert wait_for(lambda: p.rpc("dlg.profile_get_size", "caller", "1001") == 1)
            res = sipp(refused_scenario(tmp_path, 403), p.sip_port, other, **caller_args())
            assert res.returncode == 0, explain(res)
            assert rows(p)[0]["rcv_requests_invite"] >= 1
            assert stat(p, "dlglimit:caller_refused") == 1
            assert p.rpc("dlg.profile_get_size", "caller") == 1  # not one per worker
            d = p.rpc("dlg.list")[0]
            p.rpc("dlg.end_dlg", d["h_entry"], d["h_id"])
            assert held.wait(20) == 0, held.communicate()[0][-2000:]
        # worker 0 heard that the call ended (within the batching delay): a new call passes
        assert wait_for(lambda: p.rpc("dlg.profile_get_size", "caller", "1001") == 0)
        with sipp_peer("uas_answer.xml", p.sip_port, uas):
            res = sipp("uac_call.xml", p.sip_port, other, **caller_args())
            assert res.returncode == 0, explain(res)
        assert stat(p, "dlglimit:caller_refused") == 1
    finally:
        p.stop()


def _answered(sock: socket.socket, port: int, sip_port: int, timeout: float) -> bool:
    sock.settimeout(timeout)
    sock.sendto(options(port, sip_port), ("127.0.0.1", sip_port))
    try:
        sock.recvfrom(65535)
        return True
    except TimeoutError:
        return False


@pytest.mark.slow
def test_a_source_banned_on_one_worker_is_dropped_by_the_other(tmp_path):
    """A flood from a port the kernel gives worker 0 gets 127.0.0.1 banned there (pike,
    then ``$sht(ipban=>$si)`` in the default route); an OPTIONS from a port of worker 1,
    whose own pike has seen a handful of requests, then gets no answer either."""
    p = _start(tmp_path, toml="pike_reqs_density_per_unit = 60\npike_sampling_time_unit = 600\n"
               "pike_remove_latency = 600")  # fmt: skip
    try:
        flood = port_on(p, 0)
        quiet = port_on(p, 1, avoid={flood})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", quiet))
            assert _answered(s, quiet, p.sip_port, 5)  # not banned yet
        before = rows(p)[1]["received"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", flood))
            for _ in range(150):
                s.sendto(options(flood, p.sip_port), ("127.0.0.1", p.sip_port))
        assert wait_for(lambda: stat(p, "pike:blocked_ips") == 1, 10)
        assert rows(p)[1]["received"] == before  # the flood went to worker 0 alone
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", quiet))
            assert not _answered(s, quiet, p.sip_port, 2)
        assert rows(p)[1]["received"] == before + 1  # worker 1 had it, and dropped it
    finally:
        p.stop()


@pytest.mark.slow
def test_failed_authentications_on_both_workers_add_up_to_the_ban(tmp_path):
    """auth_fail_limit = 3: two wrong passwords through worker 0 and one through worker 1
    are three failures of 127.0.0.1 (htable ``authfail`` is copied between the workers):
    the third gets the source banned and no answer; alone, worker 1 would have counted one
    and challenged again."""
    p = _start(tmp_path, "--no-pike", toml="auth_fail_limit = 3")
    try:
        first = port_on(p, 0)
        second = port_on(p, 1, avoid={first})
        for port, answered in ((first, True), (first, True), (second, False)):
            client = UdpClient(p.sip_port, timeout=2.0, local=("127.0.0.1", port))
            try:
                contact = [f"sip:1001@127.0.0.1:{port}"]
                if answered:
                    assert client.register("1001", "wrong", contact).status == 401
                else:
                    with pytest.raises(TimeoutError):
                        client.register("1001", "wrong", contact)
            finally:
                client.close()
        assert [r["rcv_requests_register"] for r in rows(p)] == [4, 2]
        assert p.rpc("htable.get", "ipban", "127.0.0.1")
    finally:
        p.stop()


class _Channel:
    """What SharedLimits sends, kept instead of sent."""

    def __init__(self, index: int) -> None:
        self.ctx = WorkerContext(index, 3, "/nonexistent")
        self.sent: list[tuple[bytes, bytes]] = []
        self.handlers: dict[bytes, object] = {}

    def broadcast(self, kind: bytes, payload: bytes, **_: object) -> None:
        self.sent.append((kind, payload))

    def on(self, kind: bytes, handler: object) -> None:
        self.handlers[kind] = handler


class _Dialogs:
    def __init__(self, sizes: dict) -> None:
        self.sizes = sizes

    def profile_sizes(self) -> dict:
        return dict(self.sizes)


@pytest.fixture
def loop():
    """An event loop for the batching timer (nothing else runs on it)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _pair(loop):
    """Workers 0 and 1, each with an ipban table; what 0 sends is handed to 1."""
    ends = []
    for index in (0, 1):
        ch = _Channel(index)
        limits = SharedLimits(ch, loop, ("ipban",))
        store = HtableStore([HashTable("ipban", on_change=limits.ht_changed), HashTable("kv")])
        limits.serve(store, _Dialogs({}))
        ends.append((limits, ch, store))
    return ends


def test_counts_are_absolute_summed_per_worker_and_forgotten_on_restart(loop):
    (a, ach, _), (b, _, _) = _pair(loop)
    a.profiles_changed({("caller", "1001"): 1, ("", None): 1})
    a.profiles_changed({("caller", "1001"): 2, ("", None): 2})  # batched: one datagram
    loop.run_until_complete(asyncio.sleep(0.05))
    assert [k for k, _ in ach.sent] == [PROFILES]
    b.channel.handlers[PROFILES](ach.sent[0][1])
    b.channel.handlers[PROFILES](ach.sent[0][1])  # a repeat changes nothing
    assert b.remote_profile_size(("caller", "1001")) == 2
    b.set_counts(2, {("caller", "1001"): 1})  # a third worker's call
    assert b.remote_profile_size(("caller", "1001")) == 3
    b.set_counts(1, {("caller", "1001"): 5})  # its own counts never come back to it
    assert b.remote_profile_size(("caller", "1001")) == 3
    b.forget(0)  # worker 0 restarted: its dialogs are gone
    assert b.remote_profile_size(("caller", "1001")) == 1
    assert b.remote_profile_size(("", None)) == 0


def test_shared_tables_copy_sets_deletes_and_flushes_not_other_tables(loop):
    (a, ach, astore), (b, _, bstore) = _pair(loop)
    astore.get("ipban").set("192.0.2.1", 1)
    astore.get("kv").set("x", "y")  # not shared: nothing sent
    astore.get("ipban").set("192.0.2.2", 1)
    astore.get("ipban").delete("192.0.2.1")
    assert [k for k, _ in ach.sent] == [TABLES] * 3
    for _, payload in ach.sent:
        b.channel.handlers[TABLES](payload)
    assert sorted(bstore.get("ipban").items) == ["192.0.2.2"]
    assert bstore.get("kv").items == {}
    ach.sent.clear()
    astore.get("ipban").clear()
    ((_, payload),) = ach.sent
    b.channel.handlers[TABLES](payload)
    assert bstore.get("ipban").items == {}
    # a bad value from the link is refused, not stored
    with pytest.raises(ValueError):
        b.apply_item("ipban", "192.0.2.9", [1], 0)
    assert bstore.get("ipban").items == {}


def test_a_restarted_worker_loads_the_others_counts_and_bans(loop):
    (a, _, astore), (b, _, bstore) = _pair(loop)
    a.dialogs.sizes = {("caller", "1001"): 1, ("", None): 1}
    astore.get("ipban").set("192.0.2.1", 1)
    snap = a.snapshot()
    assert snap["w"] == 0 and snap["t"]["ipban"][0][:2] == ["192.0.2.1", 1]
    b.load_snapshot(snap)
    assert b.remote_profile_size(("caller", "1001")) == 1
    assert bstore.get("ipban").get("192.0.2.1").value == 1


def test_two_parts_cannot_take_one_kind_of_datagram(tmp_path):
    """A second handler for a kind fails at start-up (before this check, two parts that
    picked the same byte sent each other's datagrams to the wrong handler)."""
    from kamtool.proxy.workers.channel import SEND, Channel

    loop = asyncio.new_event_loop()
    channel = Channel(WorkerContext(0, 2, str(tmp_path)), loop)
    try:
        channel.on(SEND, lambda data: None)
        with pytest.raises(ValueError, match="has a handler already"):
            channel.on(SEND, lambda data: None)
    finally:
        channel.close()
        loop.close()


def test_the_kinds_of_datagram_are_distinct():
    from kamtool.proxy.workers import channel

    kinds = [channel.SIP, channel.SEND, channel.CONN, channel.HELLO, channel.LOCATION,
             channel.DISPATCHER, channel.PROFILES, channel.TABLES]  # fmt: skip
    assert len(set(kinds)) == len(kinds) and all(len(k) == 1 for k in kinds)


def test_many_profile_changes_go_in_datagrams_the_channel_takes(loop):
    """Thousands of dialogs ending in one tick, long caller names: every count arrives,
    in datagrams of at most ~32 KiB (the channel takes 128 KiB; one too big was lost)."""
    from kamtool.proxy.workers.shared_limits import DATAGRAM_BYTES

    (a, ach, _), (b, _, _) = _pair(loop)
    changes = {("caller", f"{i:05d}" + "x" * 200): 1 for i in range(2000)}
    a.profiles_changed(changes)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert len(ach.sent) > 1
    assert all(len(p) <= DATAGRAM_BYTES + 300 for _, p in ach.sent)
    for _, payload in ach.sent:
        b.channel.handlers[PROFILES](payload)
    assert all(b.remote_profile_size(k) == 1 for k in changes)
