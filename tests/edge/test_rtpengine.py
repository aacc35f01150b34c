"""The ng client against Debian's rtpengine daemon (userspace, loopback)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading

import pytest

from kamtool.errors import BadInput, KamtoolError
from kamtool.proxy.rtpengine import RtpEngine, RtpEngineError, RtpEngineUnavailable
from tests.edge.sdp import WEBRTC_SDP, invite, reply, request, with_body
from tests.support.rtpengine_daemon import RtpEngineDaemon

FLAGS = "replace-origin replace-session-connection ICE=remove RTP/AVP"


@pytest.fixture
def daemon(tmp_path):
    with RtpEngineDaemon(tmp_path) as d:
        yield d


def _media(body: bytes) -> tuple[str, int]:
    text = body.decode()
    conn = re.search(r"^c=IN IP4 (\S+)", text, re.M).group(1)
    port = int(re.search(r"^m=audio (\d+) ", text, re.M).group(1))
    return conn, port


def test_offer_answer_query_delete(daemon):
    async def run():
        rtp = RtpEngine(daemon.url, timeout=0.5, retries=3)
        try:
            inv = invite("edge-call-1")
            await rtp.offer(inv, FLAGS)
            conn, port = _media(inv.body)
            assert conn == "127.0.0.1" and daemon.port_min <= port <= daemon.port_max
            assert b"10.1.2.3" not in inv.body  # origin and connection replaced
            wire = inv.to_bytes()
            assert b"Content-Length: %d\r\n" % len(inv.body) in wire
            ok = reply("edge-call-1")
            await rtp.answer(ok, FLAGS)
            conn2, port2 = _media(ok.body)
            assert conn2 == "127.0.0.1" and port2 != port and b"10.9.8.7" not in ok.body
            q = await rtp.query("edge-call-1")
            assert q["result"] == "ok" and set(q["tags"]) == {"alicetag", "bobtag"}
            await rtp.delete(request("BYE", "edge-call-1"))
            with pytest.raises(RtpEngineError, match="Unknown call-id"):
                await rtp.query("edge-call-1")
        finally:
            rtp.close()

    asyncio.run(run())


def test_manage_follows_the_call_and_cancel_and_failure_delete(daemon):
    async def run():
        rtp = RtpEngine(daemon.url, timeout=0.5, retries=3)
        try:
            for call, end in (
                ("edge-cancel", request("CANCEL", "edge-cancel")),
                ("edge-busy", reply("edge-busy", 486, sdp=False)),
            ):
                inv = invite(call)
                assert (await rtp.manage(inv, FLAGS))["result"] == "ok"
                assert (await rtp.query(call))["result"] == "ok"
                assert await rtp.manage(reply(call, 100, sdp=False)) is None
                ringing = reply(call, 183)
                await rtp.manage(ringing, FLAGS)
                assert _media(ringing.body)[0] == "127.0.0.1"
                await rtp.manage(end)
                with pytest.raises(RtpEngineError):
                    await rtp.query(call)
            # late offer: INVITE without SDP, the 200 offers and the ACK answers
            late = "edge-late"
            assert await rtp.manage(invite(late, sdp=False)) is None
            ok = reply(late, 200)
            assert (await rtp.manage(ok, FLAGS, request_had_sdp=False))["result"] == "ok"
            assert _media(ok.body)[0] == "127.0.0.1"
            assert (await rtp.query(late))["result"] == "ok"
        finally:
            rtp.close()

    asyncio.run(run())


def test_second_rtpengine_takes_over(tmp_path):
    with RtpEngineDaemon(tmp_path) as one, RtpEngineDaemon(tmp_path) as two:

        async def run():
            rtp = RtpEngine(f"{one.url}=1 {two.url}=1", timeout=0.2, retries=2)
            try:
                # a call that hashes to the first instance
                call = next(
                    c
                    for c in (f"fo-{i}" for i in range(100))
                    if rtp.set.candidates(c, 0)[0].url == one.url
                )
                other = next(
                    c
                    for c in (f"fo2-{i}" for i in range(100))
                    if rtp.set.candidates(c, 0)[0].url == one.url
                )
                r = await rtp.offer(invite(call), FLAGS)
                assert r["node"] == one.url
                one.stop()
                r = await rtp.offer(invite(call), FLAGS)  # the first is gone: the second
                assert r["node"] == two.url
                assert (await rtp.query(call))["node"] == two.url
                rows = {row["url"]: row for row in rtp.show()}
                assert rows[one.url]["disabled"] == 1 and rows[one.url]["recheck_ticks"] > 0
                assert rows[two.url]["disabled"] == 0
                # a new call that would go to the first goes to the second at once
                inv = invite(other)
                assert (await rtp.offer(inv, FLAGS))["node"] == two.url
                assert _media(inv.body)[1] in range(two.port_min, two.port_max + 1)
                # the RPCs: off by hand, on again after a ping; a dead one fails
                assert await rtp.enable(two.url, False) == {"url": two.url, "status": "disable"}
                assert rtp.show(two.url)[0]["recheck_ticks"] == -1
                with pytest.raises(RtpEngineUnavailable):
                    await rtp.query(call)
                assert (await rtp.enable(two.url, True))["status"] == "enable"
                assert (await rtp.query(call))["node"] == two.url
                assert (await rtp.enable(one.url, True))["status"] == "fail"
                assert (await rtp.ping_nodes("all"))["status"] == "fail"
                assert (await rtp.ping_nodes(two.url))["status"] == "success"
                assert [r["index"] for r in rtp.show("all")] == [0, 1]
                with pytest.raises(BadInput):
                    rtp.show("udp:127.0.0.1:1")
            finally:
                rtp.close()

        asyncio.run(run())


def test_retransmission_keeps_its_cookie():
    """A control socket that ignores the first datagram: the retransmission (same
    cookie) gets the answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    seen: list[bytes] = []

    def serve():
        for _ in range(2):
            data, addr = sock.recvfrom(4096)
            seen.append(data)
        cookie = seen[-1].split(b" ", 1)[0]
        sock.sendto(b"garbage", addr)
        sock.sendto(cookie + b" d6:result4:ponge", addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    url = f"udp:127.0.0.1:{sock.getsockname()[1]}"

    async def run():
        rtp = RtpEngine(url, timeout=0.3, retries=3)
        try:
            return await rtp.ping(url)
        finally:
            rtp.close()

    try:
        assert asyncio.run(run()) is True
    finally:
        t.join(5)
        sock.close()
    assert len(seen) == 2 and seen[0] == seen[1]


def test_nothing_answers_and_bad_settings():
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound, never answers

    async def run():
        rtp = RtpEngine(f"udp:127.0.0.1:{dead.getsockname()[1]}", timeout=0.1, retries=2)
        try:
            with pytest.raises(RtpEngineUnavailable, match="no RTPEngine answered"):
                await rtp.query("nobody")
            with pytest.raises(RtpEngineUnavailable, match="no RTPEngine answered$"):
                await rtp.query("nobody")  # disabled now: not even tried
            with pytest.raises(KamtoolError, match="SDP"):
                await rtp.offer(invite("x", sdp=False))
        finally:
            rtp.close()

    try:
        asyncio.run(run())
    finally:
        dead.close()
    with pytest.raises(KamtoolError, match="udp:HOST:PORT"):
        RtpEngine("udp:nowhere")


def test_browser_offer_to_a_plain_rtp_phone_and_back(daemon):
    """The edge's flags: the browser's DTLS-SRTP/ICE offer becomes plain RTP for the
    phone, and the phone's RTP answer becomes DTLS-SRTP/ICE for the browser."""

    async def run():
        rtp = RtpEngine(daemon.url, timeout=0.5, retries=3)
        try:
            inv = with_body(invite("edge-webrtc"), WEBRTC_SDP)
            await rtp.offer(inv, "ICE=remove RTP/AVP rtcp-mux-demux replace-origin "
                                 "replace-session-connection")  # fmt: skip
            to_phone = inv.body.decode()
            assert re.search(r"^m=audio \d+ RTP/AVP ", to_phone, re.M), to_phone
            for gone in ("a=ice-ufrag", "a=candidate", "a=fingerprint", "a=rtcp-mux", "10.1.2.3"):
                assert gone not in to_phone, to_phone
            ok = reply("edge-webrtc")
            await rtp.answer(ok, "ICE=force UDP/TLS/RTP/SAVPF DTLS=passive rtcp-mux-require "
                                 "replace-origin replace-session-connection")  # fmt: skip
            to_browser = ok.body.decode()
            assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF ", to_browser, re.M), to_browser
            for there in ("a=ice-ufrag:", "a=candidate:", "a=fingerprint:", "a=setup:passive",
                          "a=rtcp-mux"):  # fmt: skip
                assert there in to_browser, to_browser
            assert "10.9.8.7" not in to_browser
            await rtp.delete(request("BYE", "edge-webrtc"))
        finally:
            rtp.close()

    asyncio.run(run())


def test_rtpengine_rpcs(daemon):
    from kamtool.rpc.methods import Registry, RpcFault
    from kamtool.rpc.methods import rtpengine as rtp_methods

    async def run():
        rtp = RtpEngine(f"{daemon.url}=2", timeout=0.3, retries=2)
        rpc = Registry()
        rtp_methods.register(rpc, rtp)
        try:
            assert await rpc.call("rtpengine.show", ["all"]) == [
                {"url": daemon.url, "set": 0, "index": 0, "weight": 2, "disabled": 0,
                 "recheck_ticks": 0}
            ]  # fmt: skip
            assert await rpc.call("rtpengine.ping", [daemon.url]) == {
                "url": daemon.url, "status": "success"}  # fmt: skip
            assert (await rpc.call("rtpengine.enable", [daemon.url, 0]))["status"] == "disable"
            [row] = await rpc.call("rtpengine.show", [daemon.url])
            assert (row["disabled"], row["recheck_ticks"]) == (1, -1)
            assert (await rpc.call("rtpengine.enable", ["all", 1]))["status"] == "enable"
            assert (await rpc.call("rtpengine.show", ["all"]))[0]["disabled"] == 0
            for method, args in (("rtpengine.show", ["udp:127.0.0.1:9"]),
                                 ("rtpengine.enable", ["udp:127.0.0.1:9", 1])):  # fmt: skip
                with pytest.raises(RpcFault, match="Instance not found"):
                    await rpc.call(method, args)
            with pytest.raises(RpcFault, match="Not enough parameters"):
                await rpc.call("rtpengine.enable", [daemon.url])
        finally:
            rtp.close()

    asyncio.run(run())


def test_blocking_calls_for_routes_that_cannot_wait(tmp_path):
    """The blocking path (reply routes): same SDP rewrite, same failover."""
    with RtpEngineDaemon(tmp_path) as one, RtpEngineDaemon(tmp_path) as two:
        rtp = RtpEngine(f"{one.url} {two.url}", timeout=0.2, retries=2)
        call = next(
            c for c in (f"blk-{i}" for i in range(100))
            if rtp.set.candidates(c, 0)[0].url == one.url
        )  # fmt: skip
        inv = invite(call)
        assert rtp.manage_blocking(inv, FLAGS)["node"] == one.url
        ok = reply(call, 200)
        assert rtp.manage_blocking(ok, FLAGS)["node"] == one.url
        assert _media(ok.body)[0] == "127.0.0.1" and b"10.9.8.7" not in ok.body
        assert rtp.manage_blocking(reply(call, 100, sdp=False)) is None
        one.stop()
        inv2 = invite(call)
        assert rtp.rewrite_blocking("offer", inv2, FLAGS)["node"] == two.url
        assert rtp.show(one.url)[0]["disabled"] == 1
        assert rtp.manage_blocking(request("BYE", call))["node"] == two.url
        with pytest.raises(RtpEngineError, match="Unknown call-id"):
            rtp.request_blocking({"command": "query", "call-id": call})
        two.stop()
        with pytest.raises(RtpEngineUnavailable):
            rtp.rewrite_blocking("offer", invite(call + "x"), FLAGS)
