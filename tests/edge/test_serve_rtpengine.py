"""``kamtool serve`` with ``[proxy] rtpengine`` (issue #18): the default route relays a
SIPp call's media through Debian's rtpengine daemon (userspace, loopback): both SDPs
rewritten to RTPEngine's ports, the session gone after the BYE; the RPCs answer."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from kamtool.proxy.rtpengine import RtpEngine
from tests.interop.wire import Peer, register
from tests.ksr.outside import sipp, sipp_args, sipp_uas
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.kemi import need
from tests.support.ports import free_port
from tests.support.rtpengine_daemon import RtpEngineDaemon

pytestmark = pytest.mark.slow


@pytest.fixture
def daemon(tmp_path):
    with RtpEngineDaemon(tmp_path) as d:
        yield d


@pytest.fixture
def proxy(tmp_path, daemon):
    p = KamtoolProxy(tmp_path, proxy_toml=f'rtpengine = "{daemon.url}"').start()
    yield p
    p.stop()


def _calls(daemon) -> list:
    rtp = RtpEngine(daemon.url, timeout=0.5, retries=2)
    try:
        return list(rtp.request_blocking({"command": "list"}).get("calls", []))
    finally:
        rtp.close()


def _messages(trace_file, direction: str) -> str:
    """The messages of a SIPp ``-trace_msg`` file it ``sent`` or ``received``."""
    blocks = re.split(r"^-{20,}.*$", trace_file.read_text(), flags=re.M)
    return "".join(b for b in blocks if f"message {direction}" in b.lstrip().split("\n", 1)[0])


def _media_ports(trace: str) -> list[int]:
    return [int(p) for p in re.findall(r"^\s*m=audio (\d+) ", trace, re.M)]


def test_a_call_through_serve_has_its_media_relayed_by_rtpengine(proxy, daemon, tmp_path):
    need("sipp")
    uas_port = free_port()
    with Peer("udp", proxy.sip_port) as reg:
        ok = register(reg, "1002", [f"Contact: <sip:1002@127.0.0.1:{uas_port}>", "Expires: 600"])
        assert ok.status == 200, ok.first
    uas_log, uac_log = tmp_path / "uas.msg", tmp_path / "uac.msg"
    uas = subprocess.Popen(
        sipp_args(proxy.sip_port, "uas_answer.xml", uas_port, "-m", "1", "-trace_msg",
                  "-message_file", str(uas_log)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
    )  # fmt: skip
    try:
        time.sleep(0.3)  # SIPp binds its socket
        res = sipp(proxy.sip_port, "uac_call.xml", free_port(), "-m", "1", "-s", "1002",
                   "-set", "caller", "1001", "-au", "1001", "-ap", "secret1001", "-d", "300",
                   "-trace_msg", "-message_file", str(uac_log))  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr + proxy.log_text()[-3000:]
        out, _ = uas.communicate(timeout=30)
        assert uas.returncode == 0, out
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.communicate(timeout=10)
    relayed = range(daemon.port_min, daemon.port_max + 1)
    # the callee's offer and the caller's answer came with RTPEngine's ports (SIPp's
    # own, 6000 and up, are outside the daemon's range); what each sent had its own
    got_offer = _media_ports(_messages(uas_log, "received"))
    sent_answer = _media_ports(_messages(uas_log, "sent"))
    got_answer = _media_ports(_messages(uac_log, "received"))
    sent_offer = _media_ports(_messages(uac_log, "sent"))
    assert got_offer and all(p in relayed for p in got_offer), got_offer
    assert got_answer and all(p in relayed for p in got_answer), got_answer
    assert sent_offer and sent_answer and not set(sent_offer + sent_answer) & set(relayed)
    assert _calls(daemon) == []  # deleted after the BYE
    [node] = proxy.rpc("rtpengine.show", "all")
    assert node["url"] == daemon.url and node["disabled"] == 0, node


def test_a_cancelled_call_is_deleted_and_a_second_rtpengine_takes_over(tmp_path):
    """Two RTPEngines: the call's media lives on one; after a CANCEL it is gone there.
    Then the first is stopped: the next call is relayed by the second."""
    need("sipp")
    with RtpEngineDaemon(tmp_path) as first, RtpEngineDaemon(tmp_path) as second:
        proxy = KamtoolProxy(
            tmp_path, proxy_toml=f'rtpengine = "{first.url}=1000 {second.url}"'
        ).start()  # the weights put (nearly) every call on the first
        try:
            with sipp_uas(proxy.sip_port, "uas_ring.xml", "1002", 1) as uas:
                res = sipp(proxy.sip_port, "uac_cancel.xml", free_port(), "-m", "1",
                           "-s", "1002", "-set", "caller", "1001", "-au", "1001",
                           "-ap", "secret1001")  # fmt: skip
                assert res.returncode == 0, res.stdout + res.stderr
                uas.communicate(timeout=30)
            assert "Received command 'offer'" in first.log()
            assert "Received command 'delete'" in first.log()
            assert _calls(first) == [] and _calls(second) == []  # deleted after the CANCEL
            first.stop()
            before = second.log().count("Received command 'offer'")
            with sipp_uas(proxy.sip_port, "uas_answer.xml", "1002", 1) as uas:
                res = sipp(proxy.sip_port, "uac_call.xml", free_port(), "-m", "1", "-s", "1002",
                           "-set", "caller", "1001", "-au", "1001", "-ap", "secret1001",
                           "-d", "300")  # fmt: skip
                assert res.returncode == 0, res.stdout + res.stderr + proxy.log_text()[-3000:]
                uas.communicate(timeout=30)
            assert second.log().count("Received command 'offer'") > before, second.log()[-2000:]
            [one, two] = proxy.rpc("rtpengine.show", "all")
            assert one["url"] == first.url and one["disabled"] == 1, one  # failed over
            assert two["disabled"] == 0, two
        finally:
            proxy.stop()
