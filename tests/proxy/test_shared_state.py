"""Shared state on Redis (issue #17 item 4): two kamtool proxies, each with its own SQLite
database, share registrations, bans and dialog profile sizes through the machine's Redis
(127.0.0.1:6379, database 15, a key prefix of their own, deleted afterwards); a Redis of
our own is stopped and started again to show an outage costs nothing but sharing."""

from __future__ import annotations

import logging
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from kamtool.proxy.dialogs import Leg
from tests.proxy.conftest import USERS, need
from tests.proxy.harness import (
    RunningProxy,
    add_subscriber,
    call,
    caller_args,
    explain,
    make_config,
    register,
    sipp_background,
    sipp_peer,
    wait_for,
)
from tests.support.ports import free_port
from tests.support.require import unavailable

REDIS = "redis://127.0.0.1:6379/15"


def _redis_up(port: int = 6379) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def prefix():
    """A key prefix of this test's own; its keys are deleted afterwards."""
    try:
        import redis
    except ImportError:
        unavailable("redis-py is not installed (pip install redis)")
    if not _redis_up():
        unavailable("no Redis on 127.0.0.1:6379 (apt-get install redis-server)")
    name = "kt-test-" + secrets.token_hex(4)
    yield name
    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=name + ":*"))
    if keys:
        client.delete(*keys)
    client.close()


def _db(tmp_path: Path, name: str) -> str:
    url = "sqlite:///" + str(tmp_path / f"{name}.sqlite")
    for user, pw in USERS.items():
        add_subscriber(url, user, pw)
    return url


@contextmanager
def _nodes(tmp_path: Path, state: str, prefix: str, n: int = 2, rpc_ports=(), **changes):
    """``n`` proxies on one Redis; ``rpc_ports[i]``: node i's JSON-RPC port (else none)."""
    nodes = []
    try:
        for i in range(n):
            port = rpc_ports[i] if i < len(rpc_ports) else None
            rpc = {"rpc_listen": f"127.0.0.1:{port}"} if port else {}
            cfg = make_config(
                _db(tmp_path, f"node{i}"), state=state, state_prefix=prefix, **rpc, **changes
            )
            nodes.append(RunningProxy(cfg).start())
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _contacts(node: RunningProxy, aor: str) -> list[str]:
    return node.call(lambda: [b.contact for b in node.server.usrloc.lookup(aor)])


@pytest.mark.sipp
def test_registered_on_a_called_through_b(tmp_path, prefix):
    """A REGISTER answered by A is found by the very next INVITE on B (no waiting):
    A's 200 waits for Redis, B asks Redis for an AoR it does not have yet."""
    import redis

    need("sipp")
    client = redis.Redis.from_url(REDIS, decode_responses=True)
    with _nodes(tmp_path, REDIS, prefix) as (a, b):
        uas_port = free_port()
        register(a.port, "1002", uas_port)
        assert len(client.hgetall(f"{prefix}:loc:1002")) == 1  # in Redis before the 200
        with sipp_peer("uas_answer.xml", b.port, uas_port):
            res = call(b.port)
            assert res.returncode == 0, explain(res)
        assert a.stat("core:rcv_requests_invite") == 0
        assert b.stat("core:rcv_requests_invite") == 2  # with and without credentials
        want = [f"sip:1002@127.0.0.1:{uas_port};transport=UDP"]
        assert _contacts(b, "1002") == want
        # B's copy is a mirror: B's own database never gets A's contact
        assert b.call(lambda: b.server.usrloc.count_rows()) == (0, 0)
        assert wait_for(lambda: a.call(lambda: a.server.usrloc.count_rows()) == (1, 1))
    client.close()


@pytest.mark.sipp
def test_lookup_miss_reads_redis(tmp_path, prefix):
    """A contact in Redis that no event announced (missed, or on its way) is found by the
    lookup that needs it."""
    import redis

    from kamtool.proxy.binding import Binding
    from kamtool.proxy.shared_sync import encode_binding

    need("sipp")
    client = redis.Redis.from_url(REDIS, decode_responses=True)
    with _nodes(tmp_path, REDIS, prefix, n=1) as (b,):
        uas_port = free_port()
        contact = f"sip:1002@127.0.0.1:{uas_port};transport=UDP"
        b1 = Binding(aor="1002", contact=contact, expires=time.time() + 600, ruid="uloc-x-1",
                     last_modified=time.time(), socket=f"udp:127.0.0.1:{b.port}")  # fmt: skip
        client.hset(f"{prefix}:loc:1002", "uloc-x-1", encode_binding(b1))
        assert _contacts(b, "1002") == []
        with sipp_peer("uas_answer.xml", b.port, uas_port):
            res = call(b.port)
            assert res.returncode == 0, explain(res)
        assert _contacts(b, "1002") == [contact]
    client.close()


def test_unregister_reaches_the_other_node(tmp_path, prefix):
    need("sipp")
    with _nodes(tmp_path, REDIS, prefix) as (a, b):
        port = free_port()
        register(a.port, "1001", port, expires=600)
        assert wait_for(lambda: len(_contacts(b, "1001")) == 1)
        register(b.port, "1001", port, expires=0)  # removed through the other node
        assert _contacts(b, "1001") == []
        assert wait_for(lambda: _contacts(a, "1001") == [])
        # (each node here has a database of its own: B deleted the row from B's; nodes
        # meant to share registrations share one database, as the two-hosts test does)


def test_bans_are_shared(tmp_path, prefix):
    with _nodes(tmp_path, REDIS, prefix) as (a, b):
        a.call(lambda: a.server.htables.get("ipban").set("192.0.2.7", 1))
        ipban_b = b.server.htables.get("ipban")
        assert wait_for(lambda: b.call(lambda: ipban_b.get("192.0.2.7")) is not None)
        item = b.call(lambda: ipban_b.get("192.0.2.7"))
        assert item.value == 1 and item.expires > time.time() + 200  # ipban_autoexpire 300
        b.call(lambda: ipban_b.delete("192.0.2.7"))
        ipban_a = a.server.htables.get("ipban")
        assert wait_for(lambda: a.call(lambda: ipban_a.get("192.0.2.7")) is None)
        # a flush empties the table on every node
        a.call(lambda: ipban_a.set("192.0.2.10", 1))
        assert wait_for(lambda: b.call(lambda: ipban_b.get("192.0.2.10")) is not None)
        b.call(lambda: ipban_b.clear())
        assert wait_for(lambda: a.call(lambda: len(ipban_a.items)) == 0)
        import redis

        client = redis.Redis.from_url(REDIS)
        assert list(client.scan_iter(match=f"{prefix}:ht:*")) == []
        client.close()
        # a table that is not shared stays local
        a.call(lambda: a.server.htables.get("kv").set("k", "v"))
        time.sleep(0.3)
        assert b.call(lambda: b.server.htables.get("kv").get("k")) is None


def test_profile_sizes_add_up_across_nodes(tmp_path, prefix):
    with _nodes(tmp_path, REDIS, prefix) as (a, b):
        dlg_a, dlg_b = a.server.dialogs, b.server.dialogs
        d = a.call(
            lambda: dlg_a.create(
                "c1@x", "sip:1001@h", "sip:1002@h", Leg(tag="t"), ["outbound", {"caller": "1001"}]
            )  # fmt: skip
        )
        assert wait_for(lambda: b.call(lambda: dlg_b.profile_size("caller", "1001")) == 1)
        assert b.call(lambda: dlg_b.profile_size("outbound")) == 1
        assert b.call(lambda: dlg_b.profile_size("")) == 1
        b.call(lambda: dlg_b.create("c2@x", "sip:1001@h", "sip:1003@h", Leg(tag="u"),
                                    [{"caller": "1001"}]))  # fmt: skip
        assert b.call(lambda: dlg_b.profile_size("caller", "1001")) == 2
        assert wait_for(lambda: a.call(lambda: dlg_a.profile_size("caller", "1001")) == 2)
        a.call(lambda: dlg_a.bye(d))
        assert wait_for(lambda: b.call(lambda: dlg_b.profile_size("caller", "1001")) == 1)
        assert b.call(lambda: dlg_b.profile_size("outbound")) == 0


# ---------------------------------------------------------------------- outage


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


@contextmanager
def _own_redis(port: int, tmp_path: Path):
    exe = shutil.which("redis-server")
    if exe is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _redis_up(port)), "redis-server did not start"
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def test_redis_outage_local_state_goes_on(tmp_path, prefix):
    need("sipp")
    lines = _Lines()
    logger = logging.getLogger("kamtool.proxy.redis_link")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with (
            _own_redis(port, tmp_path) as redis_proc,
            _nodes(tmp_path, url, prefix, state_retry=0.5) as (a, b),
        ):
            uas = free_port()
            register(a.port, "1002", uas)
            assert wait_for(lambda: _contacts(b, "1002"))  # replicated through Redis
            redis_proc.kill()
            redis_proc.wait(10)
            # Redis away: REGISTERs and calls go on with local (and mirrored) state
            register(a.port, "1001", free_port())
            port_1003 = free_port()
            register(a.port, "1003", port_1003)
            with sipp_peer("uas_answer.xml", b.port, uas):
                res = call(b.port, caller="1001")
                assert res.returncode == 0, explain(res)
            assert wait_for(lambda: lines.count("Redis unreachable") >= 1)
            assert _contacts(b, "1001") == []  # not shared while Redis is away
            with _own_redis(port, tmp_path):  # back, and empty: the nodes write it back
                assert wait_for(lambda: len(_contacts(b, "1001")) == 1, timeout=15)
                assert wait_for(lambda: len(_contacts(b, "1003")) == 1)
                assert len(_contacts(a, "1002")) == 1
                register(b.port, "1003", port_1003, expires=0)
                assert wait_for(lambda: _contacts(a, "1003") == [])
                # one line per outage and per node, however many requests came meanwhile
                assert lines.count("Redis unreachable") == 2, lines.lines
                assert lines.count("Redis is back") == 2, lines.lines
    finally:
        logger.removeHandler(lines)


def test_malformed_events_and_data_are_ignored(tmp_path, prefix):
    """Whatever else writes to the prefix (a bug, another version): logged, ignored, and
    sharing goes on."""
    import redis

    need("sipp")
    client = redis.Redis.from_url(REDIS)
    client.hset(f"{prefix}:loc:1003", "bad", '["1003", "sip:x", "soon"]')
    client.set(f"{prefix}:ht:ipban:192.0.2.9", "not json")
    with _nodes(tmp_path, REDIS, prefix) as (a, b):
        channel = f"{prefix}:events"
        for junk in (
            b"\xff\xfe",
            "[1, 2]",
            '{"k": "ul", "n": "x", "a": "1003", "s": {"r": "[1]"}, "d": []}',
            '{"k": "ul", "n": "x", "a": "1003", "s": 5, "d": []}',
            '{"k": "ht", "n": "x", "t": "ipban", "key": "192.0.2.8", "v": [1], "x": 1e12}',
            '{"k": "prof", "n": "x", "c": {"caller\\t1001": "many"}}',
            '{"k": "nonsense", "n": "x"}',
        ):
            client.publish(channel, junk if isinstance(junk, bytes) else "x\n" + junk)
        client.publish(channel, '{"k": "ht", "n": "x", "t": "ipban", "key": "192.0.2.8"}')
        register(a.port, "1001", free_port())
        assert wait_for(lambda: len(_contacts(b, "1001")) == 1)
        assert _contacts(b, "1003") == []
        assert b.call(lambda: b.server.htables.get("ipban").get("192.0.2.8")) is None
        assert b.call(lambda: b.server.dialogs.profile_size("caller", "1001")) == 0
    client.close()


def test_node_started_while_redis_is_away_catches_up(tmp_path, prefix):
    need("sipp")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with _nodes(tmp_path, url, prefix, n=1, state_retry=0.5) as (a,):
        register(a.port, "1001", free_port())  # Redis never seen yet: local only
        with _own_redis(port, tmp_path), _nodes(tmp_path / "b", url, prefix, n=1) as (b,):
            assert wait_for(lambda: len(_contacts(b, "1001")) == 1, timeout=15)


@pytest.mark.sipp
def test_call_limit_counts_the_calls_of_every_node(tmp_path, prefix):
    """max_calls_per_caller = 1: 1001's call held up through A makes B refuse 1001's next
    call (403, nothing relayed); once A's call ended, B lets it through."""
    from tests.proxy.peers import sipp_uas, stop
    from tests.proxy.test_call_limits import refused_scenario, rpc

    need("sipp")
    rpc_port = free_port()
    with _nodes(tmp_path, REDIS, prefix, max_calls_per_caller=1, rpc_ports=(None, rpc_port),
                rpc_runtime_dir=str(tmp_path / "rt")) as (a, b):
        uas_port = free_port()
        register(a.port, "1002", uas_port)
        uas = sipp_uas("uas_answer.xml", uas_port)
        held = sipp_background("uac_wait_bye.xml", a.port, free_port(), **caller_args())
        try:
            dlg_a, dlg_b = a.server.dialogs, b.server.dialogs
            assert wait_for(lambda: a.call(lambda: dlg_a.counts()["ongoing"]) == 1)
            assert wait_for(lambda: b.call(lambda: dlg_b.profile_size("caller", "1001")) == 1)
            assert b.call(lambda: dlg_b.counts()["all"]) == 0  # the dialog stays on A
            # B's JSON-RPC counts what B's limit counts (it answered 0 before)
            assert rpc(rpc_port, "dlg.profile_get_size", "caller", "1001") == 1
            assert rpc(rpc_port, "dlg.profile_get_size", "caller") == 1
            res = call(b.port, refused_scenario(tmp_path, 403))
            assert res.returncode == 0, explain(res)
            assert b.stat("dlglimit:caller_refused") == 1
            d = a.call(lambda: dlg_a.dialogs()[0])
            assert a.call(lambda: dlg_a.end(d.h_entry, d.h_id))  # BYE both ways
            assert held.wait(20) == 0
            assert wait_for(lambda: b.call(lambda: dlg_b.profile_size("caller", "1001")) == 0)
            assert rpc(rpc_port, "dlg.profile_get_size", "caller", "1001") == 0
            res = call(b.port)
            assert res.returncode == 0, explain(res)
        finally:
            held.kill()
            held.communicate(timeout=10)
            stop(uas)


def test_bad_state_settings_are_refused():
    from kamtool.errors import ConfigError

    for bad in ({"state": "http://127.0.0.1:6379"}, {"state": "redis://127.0.0.1:6379/x"},
                {"state_prefix": "a b"}, {"state_retry": 0}):  # fmt: skip
        with pytest.raises(ConfigError):
            make_config("sqlite:///x.sqlite", **bad)


@pytest.mark.slow
def test_stalled_redis_costs_one_timeout_then_nothing(tmp_path, prefix):
    """A Redis that stops answering (SIGSTOP: the connection stays open) fails the first
    write after its timeout; from then on the nodes do not wait for it, and they catch
    up once it answers again."""
    import signal

    need("sipp")
    lines = _Lines()
    logger = logging.getLogger("kamtool.proxy.redis_link")
    logger.addHandler(lines)
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        with (
            _own_redis(port, tmp_path) as redis_proc,
            _nodes(tmp_path, url, prefix, state_retry=0.5) as (a, b),
        ):
            uas = free_port()
            register(a.port, "1002", uas)
            redis_proc.send_signal(signal.SIGSTOP)
            try:
                for user in ("1001", "1003"):
                    register(a.port, user, free_port())
                with sipp_peer("uas_answer.xml", b.port, uas):
                    res = call(b.port, caller="1003")
                    assert res.returncode == 0, explain(res)
                assert lines.count("Redis unreachable") >= 1
            finally:
                redis_proc.send_signal(signal.SIGCONT)
            assert wait_for(lambda: len(_contacts(b, "1003")) == 1, timeout=20)
            assert wait_for(lambda: len(_contacts(b, "1001")) == 1)
            assert wait_for(lambda: lines.count("Redis is back") >= 1)
    finally:
        logger.removeHandler(lines)


def test_joining_node_gets_every_contact_in_redis(tmp_path, prefix):
    """A snapshot larger than one pass of the loop (SYNC_STEP AoRs) arrives whole."""
    import redis

    from kamtool.proxy.binding import Binding
    from kamtool.proxy.shared_sync import SYNC_STEP, encode_binding

    n = SYNC_STEP * 2 + 7
    client = redis.Redis.from_url(REDIS, decode_responses=True)
    pipe = client.pipeline(transaction=False)
    until = time.time() + 600
    for i in range(n):
        b = Binding(aor=f"u{i}", contact=f"sip:u{i}@192.0.2.1:5060", expires=until,
                    ruid=f"uloc-big-{i}", last_modified=time.time())  # fmt: skip
        pipe.hset(f"{prefix}:loc:u{i}", b.ruid, encode_binding(b))
    pipe.execute()
    client.close()
    with _nodes(tmp_path, REDIS, prefix, n=1) as (a,):
        assert wait_for(lambda: a.call(lambda: a.server.usrloc.stats()) == (n, n))
        assert _contacts(a, f"u{n - 1}") == [f"sip:u{n - 1}@192.0.2.1:5060"]
