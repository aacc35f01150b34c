"""``kamtool serve --workers 2`` against real SIPp peers: the kernel spreads senders over the
workers (SO_REUSEPORT), and what reaches a worker that does not own its state is passed to
the owner.

The kernel's spreading is by the sender's address with a random key, so each test first
finds source ports that land on the worker it wants (:func:`port_on`: an OPTIONS from the
port, then the per-worker counters of ``core.workers`` say who took it). Then the tests
put the state on one worker and the message that must find it on the other.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy.conftest import need
from tests.proxy.harness import caller_args, explain, sipp, sipp_args, sipp_peer, wait_for
from tests.proxy.test_shared_state import REDIS, _redis_up
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable

pytestmark = [pytest.mark.sipp, pytest.mark.slow]

PASSWORDS = {"1001": "secret1001", "1002": "secret1002", "1003": "secret1003"}
DIALOG_ID_BLOCK = 1 << 24  # kamtool.proxy.workers.runtime.ID_BLOCK: worker 1's dialogs above


@pytest.fixture
def workers(tmp_path):
    """A ``kamtool serve --workers 2`` (seeded: 1001-1003), both workers serving."""
    need("sipp")
    p = KamtoolProxy(tmp_path, extra_args=("--workers", "2", "--no-pike")).start()
    try:
        assert wait_for(lambda: len(rows(p)) == 2, 20), p.log_text()[-3000:]
        yield p
    finally:
        p.stop()


def rows(p: KamtoolProxy) -> list[dict]:
    """``core.workers``, by index."""
    try:
        return sorted(p.rpc("core.workers"), key=lambda r: r["index"])
    except Exception:
        return []


def received(p: KamtoolProxy) -> list[int]:
    return [r["received"] for r in rows(p)]


def port_on(p: KamtoolProxy, worker: int, avoid: set[int] | None = None) -> int:
    """A free local UDP port whose datagrams the kernel gives to ``worker``."""
    avoid = avoid or set()
    for _ in range(64):
        port = free_port()
        if port in avoid:
            continue
        before = received(p)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))
            s.sendto(options(port, p.sip_port), ("127.0.0.1", p.sip_port))
            assert wait_for(lambda b=before: received(p) != b, 5)
        after = received(p)
        got = [i for i in range(len(after)) if after[i] != before[i]]
        if got == [worker]:
            return port
    raise AssertionError(f"no port found for worker {worker}")


def options(port: int, proxy_port: int) -> bytes:
    tag = os.urandom(4).hex()
    return (
        f"OPTIONS sip:127.0.0.1:{proxy_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{tag};rport\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={tag}\r\nTo: <sip:127.0.0.1>\r\n"
        f"Call-ID: {tag}@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def register(p: KamtoolProxy, user: str, port: int, expires: int = 600) -> None:
    res = sipp(
        "register.xml", p.sip_port, port, service=user, auth=(user, PASSWORDS[user]),
        variables={"expires": str(expires)},
    )  # fmt: skip
    assert res.returncode == 0, explain(res)


@contextlib.contextmanager
def held_call(p: KamtoolProxy, port: int) -> Iterator[subprocess.Popen]:
    """1001 calls 1002 from ``port`` (SIPp uac_wait_bye.xml) and the call is up
    (confirmed); the caller is yielded, to exit 0 once the proxy ends the dialog."""
    caller = subprocess.Popen(
        sipp_args("uac_wait_bye.xml", p.sip_port, port, **caller_args()),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/tmp",
    )  # fmt: skip
    try:
        assert wait_for(lambda: [d["state"] for d in p.rpc("dlg.list")] == [4], 10)
        yield caller
    finally:
        caller.kill()
        caller.communicate(timeout=10)


def stat(p: KamtoolProxy, name: str) -> int:
    """A statistic summed over the workers (stats.fetchn answers for all of them)."""
    return int(p.rpc("stats.fetchn", name)[name.replace(":", ".")])


def test_reply_ack_and_bye_meet_the_worker_that_owns_the_call(workers):
    """The callee registers on worker 0 and the caller calls from worker 1: worker 1 finds
    the contact worker 0 saved, the callee's replies (which land on worker 0) reach the
    INVITE's transaction on worker 1, and the ACK for the 2xx and the BYE find the dialog."""
    p = workers
    uas = port_on(p, 0)
    uac = port_on(p, 1, avoid={uas})
    register(p, "1002", uas)
    assert [r["rcv_requests_register"] for r in rows(p)][0] >= 1
    with sipp_peer("uas_answer.xml", p.sip_port, uas):
        res = sipp("uac_call.xml", p.sip_port, uac, **caller_args())
        assert res.returncode == 0, explain(res)
    w0, w1 = rows(p)
    assert w1["rcv_requests_invite"] >= 1 and w0["rcv_requests_invite"] == 0
    assert w0["forwarded"] >= 3  # 100/180/200 from the callee (and the BYE's 200)
    assert w1["taken"] >= 3
    assert w1["rcv_requests_ack"] >= 2 and w1["rcv_requests_bye"] == 1
    assert w0["contact_copies"] == 0 and w1["contact_copies"] >= 1
    # the dialog is worker 1's, ended by the BYE; dlg.list covers both workers
    dialogs = p.rpc("dlg.list")
    assert [d["state"] for d in dialogs] == [5]
    assert dialogs[0]["h_id"] > DIALOG_ID_BLOCK
    assert stat(p, "dialog:processed_dialogs") == 1


def test_callee_hangs_up_from_the_other_worker(workers):
    """The callee's BYE lands on worker 0; its Route names worker 1, the dialog's owner."""
    p = workers
    uas = port_on(p, 0)
    uac = port_on(p, 1, avoid={uas})
    register(p, "1002", uas)
    with sipp_peer("uas_hangup.xml", p.sip_port, uas):
        res = sipp("uac_wait_bye.xml", p.sip_port, uac, **caller_args())
        assert res.returncode == 0, explain(res)
    w0, w1 = rows(p)
    assert w1["rcv_requests_bye"] == 1 and w0["rcv_requests_bye"] == 0
    assert [d["state"] for d in p.rpc("dlg.list")] == [5]


def test_cancel_finds_its_transaction(workers):
    """CANCEL from the caller's port reaches the INVITE's worker; the callee's 487 comes
    back through the other worker."""
    p = workers
    uas = port_on(p, 0)
    uac = port_on(p, 1, avoid={uas})
    register(p, "1002", uas)
    with sipp_peer("uas_ring.xml", p.sip_port, uas):
        res = sipp("uac_cancel.xml", p.sip_port, uac, **caller_args())
        assert res.returncode == 0, explain(res)
    w0, w1 = rows(p)
    assert w1["rcv_requests_cancel"] == 1 and w0["rcv_requests_cancel"] == 0
    assert w0["forwarded"] >= 2  # 180 and 487 (at least)
    assert stat(p, "dialog:failed_dialogs") == 1
    assert stat(p, "tmx:4xx_transactions") == 1


def test_many_callers_spread_over_both_workers(workers):
    """SIPp with a socket per call: the kernel spreads the calls, every one completes,
    and the RPC sums and dumps cover both workers."""
    p = workers
    uas = free_port()
    register(p, "1002", uas)
    calls = 12
    uas_args = sipp_args("uas_answer.xml", p.sip_port, uas)
    uas_args[uas_args.index("-m") + 1] = str(calls)
    uac_args = sipp_args("uac_call.xml", p.sip_port, free_port(), transport="un",
                         **caller_args())  # fmt: skip
    uac_args[uac_args.index("-m") + 1] = str(calls)
    uac_args += ["-r", "4", "-l", "4", "-max_socket", "64"]
    server = subprocess.Popen(uas_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd="/tmp")  # fmt: skip
    try:
        res = subprocess.run(uac_args, capture_output=True, text=True, timeout=60, cwd="/tmp")
        assert res.returncode == 0, explain(res)
        assert server.wait(20) == 0
    finally:
        server.kill()
    w0, w1 = rows(p)
    assert w0["rcv_requests_invite"] > 0 and w1["rcv_requests_invite"] > 0  # spread
    assert w0["channel_dropped"] == w1["channel_dropped"] == 0  # nothing lost on the way
    invites = w0["rcv_requests_invite"] + w1["rcv_requests_invite"]
    assert stat(p, "core:rcv_requests_invite") == invites  # summed by stats.fetchn
    assert stat(p, "dialog:processed_dialogs") == calls
    lines = p.rpc("stats.get_statistics", "dialog:")
    assert f"dialog:processed_dialogs = {calls}" in lines
    dialogs = p.rpc("dlg.list")
    assert len(dialogs) == calls
    owners = {d["h_id"] > DIALOG_ID_BLOCK for d in dialogs}
    assert owners == {False, True}  # both workers' dialogs in one dump
    # registrations are copied, not counted twice
    assert stat(p, "usrloc:registered_users") == 1
    # /metrics (worker 0 answers it) sums the workers as stats.get_statistics does
    metrics = metric_values(p)
    assert metrics["kamailio_core_rcv_requests_invite"] == invites
    assert metrics["kamailio_dialog_processed_dialogs"] == calls
    assert metrics["kamailio_usrloc_registered_users"] == 1


def metric_values(p: KamtoolProxy) -> dict[str, float]:
    """The unlabelled samples of ``GET /metrics``."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{p.http_port}/metrics", timeout=10).text
    return {name: float(value) for name, _, value in
            (line.partition(" ") for line in text.splitlines())
            if name and not name.startswith("#") and "{" not in name}  # fmt: skip


def test_end_dlg_reaches_the_worker_that_owns_the_dialog(workers):
    p = workers
    uas = port_on(p, 0)
    uac = port_on(p, 1, avoid={uas})
    register(p, "1002", uas)
    with sipp_peer("uas_answer.xml", p.sip_port, uas), held_call(p, uac) as caller:
        d = p.rpc("dlg.list")[0]
        assert d["h_id"] > DIALOG_ID_BLOCK  # worker 1's: the RPC server is worker 0
        p.rpc("dlg.end_dlg", d["h_entry"], d["h_id"])
        assert caller.wait(20) == 0, caller.communicate()[0][-2000:]
    assert [x["state"] for x in p.rpc("dlg.list")] == [5]
    with pytest.raises(RuntimeError, match="not found"):
        p.rpc("dlg.end_dlg", 1, 99)


def test_sigterm_stops_every_worker_and_flushes_write_back_contacts(workers):
    """db_mode 2 (write-back, every 10 s): contacts registered on both workers just
    before SIGTERM are in the database after the stop, and no worker is left."""
    p = workers
    first = port_on(p, 0)
    second = port_on(p, 1, avoid={first})
    register(p, "1001", first)
    register(p, "1003", second)
    pids = [r["pid"] for r in rows(p)]
    assert [r["rcv_requests_register"] for r in rows(p)] == [2, 2]  # 401, then 200
    os.kill(p.proc.pid, signal.SIGTERM)  # the supervisor only
    assert p.proc.wait(30) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with sqlite3.connect(p.db_file) as db:
        users = sorted(u for (u,) in db.execute("SELECT username FROM location"))
    assert users == ["1001", "1003"]
    log = p.log_text()
    assert "[w0]: usrloc: flushed 1 contacts" in log and "[w1]: usrloc: flushed 1 contacts" in log


def test_a_dead_worker_is_restarted_and_the_other_goes_on(workers):
    p = workers
    uas = port_on(p, 0)
    register(p, "1002", uas)
    old = rows(p)[1]["pid"]
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: len(rows(p)) == 2 and rows(p)[1]["pid"] != old, 20), p.log_text()
    assert f"worker 1 (pid {old}) died (signal SIGKILL); restarting it" in p.log_text()
    # the new worker 1 has the registration worker 0 holds, and routes a call with it
    assert wait_for(lambda: "copied from worker 0" in p.log_text(), 10), p.log_text()[-2000:]
    uac = port_on(p, 1, avoid={uas})
    with sipp_peer("uas_answer.xml", p.sip_port, uas):
        res = sipp("uac_call.xml", p.sip_port, uac, **caller_args())
        assert res.returncode == 0, explain(res)
    assert rows(p)[1]["rcv_requests_invite"] >= 1


def _read_sip(conn: socket.socket, buf: bytearray) -> str:
    """One SIP message from a TCP stream (Content-Length 0 in this test)."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        assert chunk, "connection closed"
        buf.extend(chunk)
    end = buf.index(b"\r\n\r\n") + 4
    text = buf[:end].decode()
    del buf[:end]
    return text


def _headers(msg: str, name: str) -> list[str]:
    return [line for line in msg.split("\r\n") if line.lower().startswith(name.lower() + ":")]


def test_phone_on_tcp_is_reached_through_the_worker_holding_its_connection(tmp_path):
    """A phone registers over TCP (its connection accepted by one worker) and is called
    through the other: the INVITE leaves on the phone's own connection, and its 486
    comes back through the holder to the transaction's owner."""
    need("sipp")
    p = KamtoolProxy(tmp_path, extra_args=("--workers", "2", "--no-pike", "--no-auth")).start()
    try:
        assert wait_for(lambda: len(rows(p)) == 2, 20), p.log_text()[-3000:]
        phone = socket.create_connection(("127.0.0.1", p.sip_port), timeout=10)
        buf = bytearray()
        port = phone.getsockname()[1]
        tag = os.urandom(4).hex()
        phone.sendall(
            (
                f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK{tag}\r\n"
                f"From: <sip:1002@127.0.0.1>;tag={tag}\r\nTo: <sip:1002@127.0.0.1>\r\n"
                f"Call-ID: {tag}@phone\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:1002@127.0.0.1:{port};transport=tcp>\r\nExpires: 600\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
        )
        assert _read_sip(phone, buf).startswith("SIP/2.0 200")
        holder = [r["rcv_requests_register"] for r in rows(p)].index(1)
        caller = port_on(p, 1 - holder)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", caller))
            udp.settimeout(10)
            ctag = os.urandom(4).hex()
            invite = (
                f"INVITE sip:1002@127.0.0.1:{p.sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{caller};branch=z9hG4bK{ctag};rport\r\n"
                f"From: <sip:1001@127.0.0.1>;tag={ctag}\r\nTo: <sip:1002@127.0.0.1>\r\n"
                f"Call-ID: {ctag}@caller\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:1001@127.0.0.1:{caller}>\r\nContent-Length: 0\r\n\r\n"
            )
            udp.sendto(invite.encode(), ("127.0.0.1", p.sip_port))
            got = _read_sip(phone, buf)  # on the phone's own connection
            assert got.startswith("INVITE sip:1002@127.0.0.1:"), got
            reply = "\r\n".join(
                [
                    "SIP/2.0 486 Busy Here",
                    *_headers(got, "Via"),
                    *_headers(got, "From"),
                    _headers(got, "To")[0] + ";tag=busy",
                    *_headers(got, "Call-ID"),
                    *_headers(got, "CSeq"),
                    "Content-Length: 0",
                    "",
                    "",
                ]
            )
            phone.sendall(reply.encode())
            ack = _read_sip(phone, buf)  # the proxy's hop-by-hop ACK, on the connection
            assert ack.startswith("ACK "), ack
            statuses = []
            while 486 not in statuses:
                data, _ = udp.recvfrom(65536)
                statuses.append(int(data.split(b" ", 2)[1]))
        owner = rows(p)[1 - holder]
        assert owner["rcv_requests_invite"] == 1 and owner["remote_connections"] >= 1
        assert rows(p)[holder]["forwarded"] >= 1  # the 486, to the INVITE's owner
        phone.close()
    finally:
        p.stop()


def _final_status(udp: socket.socket) -> int:
    while True:
        data, _ = udp.recvfrom(65536)
        if data.startswith(b"SIP/2.0 "):
            status = int(data.split(b" ", 2)[1])
            if status >= 200:
                return status


def test_dispatcher_states_probed_by_worker_0_hold_in_worker_1(tmp_path):
    """Worker 0 alone probes the dispatcher set (seeded: 127.0.0.1:5062 and :5063, both
    silent) and marks it inactive; an INVITE for the set that worker 1 routes then finds no
    destination (404 at once) instead of trying the silent ones."""
    need("sipp")
    p = KamtoolProxy(
        tmp_path,
        extra_args=("--workers", "2", "--no-pike", "--no-auth"),
        proxy_toml="ds_ping_interval = 1\nfr_timer = 1.0",
    ).start()
    try:
        assert wait_for(lambda: len(rows(p)) == 2, 20), p.log_text()[-3000:]

        def flags() -> list[str]:
            listed = p.rpc("dispatcher.list")["RECORDS"][0]["SET"]["TARGETS"]
            return [t["DEST"]["FLAGS"] for t in listed]

        assert wait_for(lambda: all(f.startswith("I") for f in flags()), 20), flags()
        caller = port_on(p, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", caller))
            udp.settimeout(10)
            tag = os.urandom(4).hex()
            udp.sendto(
                (
                    f"INVITE sip:9001@127.0.0.1:{p.sip_port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{caller};branch=z9hG4bK{tag};rport\r\n"
                    f"From: <sip:1001@127.0.0.1>;tag={tag}\r\nTo: <sip:9001@127.0.0.1>\r\n"
                    f"Call-ID: {tag}@caller\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                    f"Contact: <sip:1001@127.0.0.1:{caller}>\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                ("127.0.0.1", p.sip_port),
            )
            assert _final_status(udp) == 404
        assert rows(p)[1]["rcv_requests_invite"] == 1
    finally:
        p.stop()


@pytest.fixture
def prefix():
    """A Redis key prefix of this test's own (database 15); its keys deleted afterwards."""
    try:
        import redis
    except ImportError:
        unavailable("redis-py is not installed (pip install redis)")
    if not _redis_up():
        unavailable("no Redis on 127.0.0.1:6379 (apt-get install redis-server)")
    name = "kt-test-" + os.urandom(4).hex()
    yield name
    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=name + ":*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_with_redis_state_a_register_on_one_worker_is_found_by_another(tmp_path, prefix):
    """``[proxy] state`` set: the workers share registrations through Redis (the state
    backend, not the worker channel's copy), and a call routed by the other worker finds
    the callee."""
    need("sipp")
    p = KamtoolProxy(
        tmp_path,
        extra_args=("--workers", "2", "--no-pike"),
        proxy_toml=f'state = "{REDIS}"\nstate_prefix = "{prefix}"',
    ).start()
    try:
        assert wait_for(lambda: len(rows(p)) == 2, 20), p.log_text()[-3000:]
        uas = port_on(p, 0)
        uac = port_on(p, 1, avoid={uas})
        register(p, "1002", uas)
        with sipp_peer("uas_answer.xml", p.sip_port, uas):
            res = sipp("uac_call.xml", p.sip_port, uac, **caller_args())
            assert res.returncode == 0, explain(res)
        w0, w1 = rows(p)
        assert w0["rcv_requests_register"] >= 1 and w1["rcv_requests_invite"] >= 1
        assert w1["contact_copies"] == 0  # Redis carried it, not the worker channel
    finally:
        p.stop()


def test_processes_and_memory_cover_every_worker(workers):
    """``kamtool ps``/``core.psx`` and ``pkg.stats`` list both workers' processes (they
    showed worker 0's only), numbered once; the memory ceiling the workers share is
    counted once and free memory is what all of them together leave (the sum read as
    twice the machine's memory, and the memory checks could never warn)."""
    p = workers
    pids = {r["pid"] for r in rows(p)}
    assert len(pids) == 2
    psx = p.rpc("core.psx")
    assert {r["PID"] for r in psx} == pids
    assert [r["IDX"] for r in psx] == list(range(len(psx)))
    assert {r["pid"] for r in p.rpc("pkg.stats")} == pids
    shm = p.rpc("core.shmmem")
    stats = p.rpc("stats.fetch", "shmem:")
    one = next(r for r in p.rpc("pkg.stats") if r["pid"] == min(pids))["total_size"]
    assert shm["total"] == one == int(stats["shmem.total_size"])  # one ceiling, not two
    assert shm["free"] == shm["total"] - shm["real_used"]
    assert int(stats["shmem.free_size"]) == one - int(stats["shmem.real_used_size"])


def test_a_restarted_worker_0_keeps_the_services_uptime(workers):
    """Worker 0 answers core.uptime: its restart made the service look restarted (the
    monitor said "server restarted" though SIP never stopped)."""
    p = workers
    before = p.rpc("core.uptime")
    old = rows(p)[0]["pid"]
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: len(rows(p)) == 2 and rows(p)[0]["pid"] != old, 20), p.log_text()
    after = p.rpc("core.uptime")
    assert after["up_since"] == before["up_since"]
    assert after["uptime"] >= before["uptime"]


def test_a_restarted_worker_carries_on_its_counts(workers):
    """A worker killed with SIGKILL: the one started in its place goes on from its counts
    (Kamailio's are in shared memory), so a summed counter never goes back and Prometheus
    sees no counter reset."""
    p = workers
    port = port_on(p, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))
        s.settimeout(5)
        for _ in range(5):
            s.sendto(options(port, p.sip_port), ("127.0.0.1", p.sip_port))
            assert s.recv(65535).startswith(b"SIP/2.0 200")
    counted = stat(p, "core:rcv_requests_options")
    assert rows(p)[1]["rcv_requests_invite"] == 0
    assert wait_for(lambda: "rcv_requests_options" in _kept(p, 1), 5)  # written once a second
    old = rows(p)[1]["pid"]
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: len(rows(p)) == 2 and rows(p)[1]["pid"] != old, 20), p.log_text()
    assert stat(p, "core:rcv_requests_options") >= counted, p.log_text()[-2000:]
    assert "worker 1: " in p.log_text() and "counters carried over" in p.log_text()


def _kept(p: KamtoolProxy, index: int) -> str:
    """What worker ``index`` last wrote of its counts (kept_counters), as text; found
    through the unix socket it bound in the supervisor's private directory."""
    pid = rows(p)[index]["pid"]
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes and "kamtool-workers-" in fields[7]:
            kept = Path(fields[7]).parent / f"counters-{index}.json"
            with contextlib.suppress(OSError):
                return kept.read_text()
    return ""
