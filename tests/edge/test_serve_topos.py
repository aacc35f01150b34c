"""``kamtool serve`` with ``[proxy] topos = true`` (issue #18): a record-routed SIPp call
between an "inside" SIPp on 127.0.0.2 and an "outside" one on 127.0.0.3. Each side
receives only the proxy's Via, no Record-Route and a Contact of the proxy, so no header
names an address of the other side (SDP is RTPEngine's to rewrite); in-dialog requests
find their way back through what the proxy kept, and the call ends with a BYE from
either side. A tshark capture of the outside leg shows the same."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from contextlib import closing

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


def _topos_rows(proxy) -> list[tuple]:
    with closing(sqlite3.connect(proxy.db_file, timeout=10)) as db:
        return db.execute("SELECT a_uuid, b_uuid, iflags FROM topos_d").fetchall()


def test_dialogs_in_topos_d_survive_a_restart(tmp_path):
    """``topos_storage = "db"``: the proxy restarts in the middle of a call; the caller's
    BYE, to the Contact the proxy gave it before, still reaches the callee."""
    need("sipp")
    proxy = KamtoolProxy(tmp_path, proxy_toml='topos = true\ntopos_storage = "db"\n').start()
    caller = callee = None
    try:
        uas_port = free_port()
        with Peer("udp", proxy.sip_port) as reg:
            ok = register(reg, "1002", [f"Contact: <sip:1002@{OUTSIDE}:{uas_port}>",
                                        "Expires: 600"])  # fmt: skip
            assert ok.status == 200, ok.first
        callee = subprocess.Popen(
            _args(proxy, "uas_answer.xml", OUTSIDE, uas_port, tmp_path / "uas.msg"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
        )  # fmt: skip
        time.sleep(0.3)  # SIPp binds its socket
        caller = subprocess.Popen(
            _args(proxy, "uac_call.xml", INSIDE, free_port(), tmp_path / "uac.msg", "-s", "1002",
                  "-set", "caller", "1001", "-au", "1001", "-ap", "secret1001", "-d", "15000",
                  "-cid_str", "%u-%p@topos.invalid"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
        )  # fmt: skip
        for _ in range(200):  # until the answered dialog is in topos_d
            rows = _topos_rows(proxy)
            if rows and rows[0][2] & 1:
                break
            time.sleep(0.05)
        [(a_uuid, b_uuid, _)] = rows
        proxy.stop()
        proxy.seed, proxy.wanted_sip_port = False, proxy.sip_port
        proxy.start()  # a new process: nothing of the dialog in memory
        out, _ = caller.communicate(timeout=90)
        assert caller.returncode == 0, out + proxy.log_text()[-3000:]
        out, _ = callee.communicate(timeout=30)
        assert callee.returncode == 0, out + proxy.log_text()[-3000:]
        assert f"BYE sip:btpsh-{b_uuid}@" in (tmp_path / "uac.msg").read_text()
        for _ in range(100):  # the BYE's 200 deleted the row
            if not _topos_rows(proxy):
                break
            time.sleep(0.05)
        assert _topos_rows(proxy) == []
    finally:
        for p in (caller, callee):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate(timeout=10)
        proxy.stop()


def test_over_tcp_each_side_sees_only_the_proxy(proxy, tmp_path):
    """The same call over TCP: the Contacts the proxy gives out name its TCP socket."""
    need("sipp")
    uas_port = free_port()
    with Peer("udp", proxy.sip_port) as reg:
        ok = register(reg, "1002", [f"Contact: <sip:1002@{OUTSIDE}:{uas_port};transport=tcp>",
                                    "Expires: 600"])  # fmt: skip
        assert ok.status == 200, ok.first
    uas_log, uac_log = tmp_path / "uas.msg", tmp_path / "uac.msg"
    callee = subprocess.Popen(
        _args(proxy, "uas_answer.xml", OUTSIDE, uas_port, uas_log, "-t", "t1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
    )  # fmt: skip
    try:
        time.sleep(0.3)  # SIPp binds its socket
        res = run(_args(proxy, "uac_call.xml", INSIDE, free_port(), uac_log, "-t", "t1",
                        "-s", "1002", "-set", "caller", "1001", "-au", "1001",
                        "-ap", "secret1001", "-d", "300",
                        "-cid_str", "%u-%p@topos.invalid"), timeout=60)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr + proxy.log_text()[-3000:]
        out, _ = callee.communicate(timeout=30)
        assert callee.returncode == 0, out + proxy.log_text()[-3000:]
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.communicate(timeout=10)
    outside_saw, inside_saw = _received_headers(uas_log), _received_headers(uac_log)
    assert "BYE " in inside_saw + outside_saw
    assert INSIDE not in outside_saw and OUTSIDE not in inside_saw
    assert re.search(rf"Contact: <sip:atpsh-\w+@127\.0\.0\.1:{proxy.sip_port};transport=tcp>",
                     outside_saw), outside_saw  # fmt: skip
    assert re.search(rf"Contact: <sip:btpsh-\w+@127\.0\.0\.1:{proxy.sip_port};transport=tcp>",
                     inside_saw), inside_saw  # fmt: skip
