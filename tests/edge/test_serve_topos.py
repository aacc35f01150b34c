"""``kamtool serve`` with ``[proxy] topos = true`` (issue #18): a record-routed SIPp call
between an "inside" SIPp on 127.0.0.2 and an "outside" one on 127.0.0.3. Each side
receives only the proxy's Via, no Record-Route and a Contact of the proxy, so no header
names an address of the other side (SDP is RTPEngine's to rewrite); in-dialog requests
find their way back through what the proxy kept, and the call ends with a BYE from
either side. A tshark capture of the outside leg shows the same."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.edge.test_serve_topoh import INSIDE, OUTSIDE, _args, _received_headers
from tests.interop.wire import Peer, register
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.kemi import need, run
from tests.support.ports import free_port
from tests.trace.support import LoopbackCapture

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(tmp_path):
    p = KamtoolProxy(tmp_path, proxy_toml="topos = true\n").start()
    yield p
    p.stop()


def _headers_on_the_wire(pcap) -> str:
    """The SIP header parts tshark decodes in ``pcap`` (its field runs on into the body:
    cut at the blank line, which tshark writes escaped)."""
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "sip", "-T", "fields", "-e", "sip.msg_hdr"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return "\n".join(line.split("\\r\\n\\r\\n", 1)[0] for line in out.stdout.splitlines())


@pytest.mark.parametrize(
    ("uas", "uac"),
    [("uas_answer.xml", "uac_call.xml"), ("uas_hangup.xml", "uac_wait_bye.xml"),
     ("uas_ring.xml", "uac_cancel.xml")],
    ids=["caller-hangs-up", "callee-hangs-up", "caller-cancels"],
)  # fmt: skip
def test_each_side_sees_only_the_proxy(proxy, tmp_path, uas, uac):
    need("sipp")
    uas_port = free_port()
    with Peer("udp", proxy.sip_port) as reg:
        ok = register(reg, "1002", [f"Contact: <sip:1002@{OUTSIDE}:{uas_port}>", "Expires: 600"])
        assert ok.status == 200, ok.first
    capture = LoopbackCapture(tmp_path / "outside.pcap", f"udp and host {OUTSIDE}")
    uas_log, uac_log = tmp_path / "uas.msg", tmp_path / "uac.msg"
    callee = subprocess.Popen(
        _args(proxy, uas, OUTSIDE, uas_port, uas_log),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
    )  # fmt: skip
    try:
        time.sleep(0.3)  # SIPp binds its socket
        # topos leaves the Call-ID alone (as Kamailio's does): SIPp's default one names
        # the caller's address, a phone's usually does not
        res = run(_args(proxy, uac, INSIDE, free_port(), uac_log, "-s", "1002", "-set", "caller",
                        "1001", "-au", "1001", "-ap", "secret1001", "-d", "300",
                        "-cid_str", "%u-%p@topos.invalid"), timeout=60)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr + proxy.log_text()[-3000:]
        out, _ = callee.communicate(timeout=30)
        assert callee.returncode == 0, out + proxy.log_text()[-3000:]
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.communicate(timeout=10)
    wire = _headers_on_the_wire(capture.stop())
    outside_saw, inside_saw = _received_headers(uas_log), _received_headers(uac_log)
    assert "INVITE sip:1002@" in outside_saw
    if uac == "uac_cancel.xml":  # the 487 found its way back through the kept Vias
        assert "CANCEL sip:" in outside_saw and "SIP/2.0 487" in inside_saw
    else:
        assert "SIP/2.0 200" in inside_saw and "BYE " in outside_saw + inside_saw
    for saw, other in ((outside_saw, INSIDE), (inside_saw, OUTSIDE)):
        assert other not in saw, saw
        assert not re.search(r"^Record-Route:", saw, re.M | re.I), saw
    assert INSIDE not in wire and "Record-Route" not in wire, wire
    assert "INVITE" in wire or "Contact" in wire  # the capture did see the outside leg
    if uac == "uac_cancel.xml":
        return  # no dialog: no Contact of the proxy was given out
    # each side's in-dialog requests go to a Contact of the proxy
    assert re.search(rf"^Contact: <sip:atpsh-\w+@127\.0\.0\.1:{proxy.sip_port}>", outside_saw,
                     re.M), outside_saw  # fmt: skip
    assert re.search(rf"^Contact: <sip:btpsh-\w+@127\.0\.0\.1:{proxy.sip_port}>", inside_saw,
                     re.M), inside_saw  # fmt: skip
    # every message each side got has one Via: the proxy's in requests, its own in replies
    for saw in (outside_saw, inside_saw):
        starts = re.findall(r"[A-Z]+ sip:\S+ SIP/2\.0|SIP/2\.0 \d{3} ", saw)
        assert len(re.findall(r"Via:", saw, re.I)) == len(starts) >= 3, saw
