"""The owner marks of ``--workers N`` (kamtool.proxy.workers.owner), the ``workers`` setting,
and the RPC answers merged for every worker (kamtool.rpc.server.workers), without processes."""

from __future__ import annotations

import os

import pytest

from kamtool.config import Settings
from kamtool.errors import ConfigError
from kamtool.proxy.codec import Codec
from kamtool.proxy.config import ProxyConfig, proxy_config
from kamtool.proxy.config_workers import parse_workers
from kamtool.proxy.listen import Listen
from kamtool.proxy.workers.owner import owner_of_bytes, owner_of_message
from kamtool.rpc.server.workers import _merge_lists, _params, _sum
from kamtool.sip.parser import parse_message


def reply(top_branch: str, second: str = "z9hG4bKw1x00.1") -> bytes:
    return (
        "SIP/2.0 200 OK\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={top_branch}\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch={second};received=10.0.0.1\r\n"
        "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def request(*headers: str, method: str = "BYE") -> bytes:
    lines = [
        f"{method} sip:b@10.0.0.2 SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc",
        *headers,
        "From: <sip:a@x>;tag=1",
        "To: <sip:b@x>;tag=2",
        "Call-ID: c",
        f"CSeq: 2 {method}",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def test_a_reply_names_the_worker_of_our_top_via():
    assert owner_of_bytes(reply("z9hG4bKw1x0a1b2c3d.5")) == 1
    assert owner_of_bytes(reply("z9hG4bKw12x0a1b2c3d.5")) == 12
    # our top Via is a stateless branch: the second Via's mark (another proxy's) is not ours
    assert owner_of_bytes(reply("z9hG4bK5f3a")) is None
    assert owner_of_bytes(reply("z9hG4bKw1x0a.5")) == owner_of_message(
        parse_message(reply("z9hG4bKw1x0a.5"))
    )


def test_an_in_dialog_request_names_the_worker_of_its_top_route():
    ours = "Route: <sip:127.0.0.1;lr;ftag=1;did=a.1000001;kw=1>, <sip:10.0.0.9;lr>"
    assert owner_of_bytes(request(ours)) == 1
    assert owner_of_message(parse_message(request(ours))) == 1
    # only the top Route counts; Record-Route never does; no Route: the receiver's
    later = "Route: <sip:10.0.0.9;lr>, <sip:127.0.0.1;lr;kw=1>"
    assert owner_of_bytes(request(later)) is None
    assert owner_of_message(parse_message(request(later))) is None
    rr = "Record-Route: <sip:127.0.0.1;lr;kw=1>"
    assert owner_of_bytes(request(rr, method="INVITE")) is None
    assert owner_of_bytes(request()) is None
    assert owner_of_bytes(request("route : <sip:127.0.0.1;lr;kw=0>")) == 0


def test_codec_marks_branches_and_record_routes_with_its_worker():
    codec = Codec(ProxyConfig(db_url="sqlite://"))
    lst = Listen("udp", "127.0.0.1", 5060)
    assert "kw=" not in codec.record_route(lst, "t", None)
    codec.mark_owner(3)
    assert codec.new_branch().startswith("z9hG4bKw3x")
    assert codec.record_route(lst, "t", "a.1").endswith(";did=a.1;kw=3>")
    branch = codec.new_branch()
    assert owner_of_bytes(reply(branch)) == 3


def test_the_workers_setting():
    assert parse_workers(3) == 3
    assert parse_workers("2") == 2
    assert parse_workers("auto") == min(os.cpu_count() or 1, 64)
    for bad in (0, -1, 65, "many", True, 1.5):
        with pytest.raises(ConfigError):
            parse_workers(bad)
    cfg = proxy_config(Settings(db_url="sqlite://", sections={"proxy": {"workers": "auto"}}))
    assert cfg.workers == parse_workers("auto")
    with pytest.raises(ConfigError, match="workers"):
        ProxyConfig(db_url="sqlite://", workers=0)


def test_merged_answers():
    # statistics add up, except what every worker holds the same (copied registrations)
    mine = {"core.rcv_requests": 3, "usrloc.registered_users": 2, "x": "7"}
    theirs = [{"core.rcv_requests": 4, "usrloc.registered_users": 2, "x": "1", "y": 1}]
    assert _sum(mine, theirs) == {
        "core.rcv_requests": 7, "usrloc.registered_users": 2, "x": "8", "y": 1,
    }  # fmt: skip
    lines = ["core:rcv_requests = 3", "usrloc:registered_users = 2"]
    other = [["core:rcv_requests = 4", "usrloc:registered_users = 2", "tm:new = 1"]]
    assert _sum(lines, other) == [
        "core:rcv_requests = 7", "usrloc:registered_users = 2", "tm:new = 1",
    ]  # fmt: skip
    assert _sum(2, [3, 4]) == 9
    assert _merge_lists([{"h_id": 1}], [[{"h_id": 16777217}], "bad"]) == [
        {"h_id": 1}, {"h_id": 16777217},
    ]  # fmt: skip
    assert _params((1, 2, None)) == [1, 2]


def test_serve_refuses_a_bad_worker_count(tmp_path):
    from tests.support.cli import invoke

    res = invoke("--db", f"sqlite:///{tmp_path}/k.sqlite", "serve", "--workers", "many")
    assert res.exit_code == 8
    assert "workers: 'many' is not a number or 'auto'" in res.stderr


def test_the_channel_keeps_what_a_busy_worker_cannot_take_yet(tmp_path):
    """A unix datagram queue holds few datagrams (net.unix.max_dgram_qlen, 10 by default):
    what a worker sends while the other is busy waits, in order, and arrives when it reads."""
    import asyncio

    from kamtool.proxy.workers import WorkerContext
    from kamtool.proxy.workers.channel import Channel

    async def run() -> tuple[list[bytes], int, int]:
        loop = asyncio.get_running_loop()
        a = Channel(WorkerContext(0, 2, str(tmp_path)), loop)
        b = Channel(WorkerContext(1, 2, str(tmp_path)), loop)
        got: list[bytes] = []
        b.on(b"S", got.append)
        loop.remove_reader(b.sock.fileno())  # worker 1 is busy: it reads nothing
        for i in range(200):
            assert a.send(1, b"S", b"%d" % i)
        queued = len(a._peers[1].queue)
        loop.add_reader(b.sock.fileno(), b._readable)  # and now it reads
        for _ in range(200):
            if len(got) == 200:
                break
            await asyncio.sleep(0.01)
        a.close()
        b.close()
        return got, queued, a.dropped

    got, queued, dropped = asyncio.run(run())
    assert queued > 0  # the kernel took only some of them
    assert got == [b"%d" % i for i in range(200)] and dropped == 0
