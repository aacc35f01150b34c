"""``kamtool serve`` with ``[proxy] topoh = true`` (issue #18): a call through the proxy
between an "inside" SIPp on 127.0.0.2 and an "outside" one on 127.0.0.3; the SIP headers
each side receives name no address of the other (SDP is topoh's to leave alone: media
addresses are RTPEngine's job), and the call ends with a BYE from either side."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.interop.wire import Peer, register
from tests.ksr.outside import sipp_args
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.kemi import need, run
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

INSIDE, OUTSIDE, MASK = "127.0.0.2", "127.0.0.3", "127.0.0.8"


@pytest.fixture
def proxy(tmp_path):
    p = KamtoolProxy(
        tmp_path,
        proxy_toml='nat = false\ntopoh = true\ntopoh_mask_key = "edge-secret"\n'
        f'topoh_mask_ip = "{MASK}"\ntopoh_mask_callid = true',
    ).start()
    yield p
    p.stop()


def _args(proxy, scenario: str, host: str, port: int, trace, *extra: str) -> list[str]:
    args = sipp_args(proxy.sip_port, scenario, port, "-m", "1", "-trace_msg",
                     "-message_file", str(trace), *extra)  # fmt: skip
    args[args.index("-i") + 1] = host
    return args


def _received_headers(trace_file) -> str:
    """The header parts of what a SIPp ``-trace_msg`` file says it received."""
    blocks = re.split(r"^-{20,}.*$", trace_file.read_text(), flags=re.M)
    got = [b for b in blocks if "message received" in b.lstrip().split("\n", 1)[0]]
    return "".join(re.split(r"\r?\n\r?\n", b.strip(), maxsplit=2)[1] for b in got)


@pytest.mark.parametrize(
    ("uas", "uac"),
    [("uas_answer.xml", "uac_call.xml"), ("uas_hangup.xml", "uac_wait_bye.xml")],
    ids=["caller-hangs-up", "callee-hangs-up"],
)
def test_each_side_sees_no_address_of_the_other(proxy, tmp_path, uas, uac):
    need("sipp")
    uas_port = free_port()
    with Peer("udp", proxy.sip_port) as reg:
        ok = register(reg, "1002", [f"Contact: <sip:1002@{OUTSIDE}:{uas_port}>", "Expires: 600"])
        assert ok.status == 200, ok.first
    uas_log, uac_log = tmp_path / "uas.msg", tmp_path / "uac.msg"
    callee = subprocess.Popen(
        _args(proxy, uas, OUTSIDE, uas_port, uas_log),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
    )  # fmt: skip
    try:
        time.sleep(0.3)  # SIPp binds its socket
        res = run(_args(proxy, uac, INSIDE, free_port(), uac_log, "-s", "1002", "-set", "caller",
                        "1001", "-au", "1001", "-ap", "secret1001", "-d", "300"), timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr + proxy.log_text()[-3000:]
        out, _ = callee.communicate(timeout=30)
        assert callee.returncode == 0, out + proxy.log_text()[-3000:]
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.communicate(timeout=10)
    outside_saw, inside_saw = _received_headers(uas_log), _received_headers(uac_log)
    assert "INVITE sip:1002@" in outside_saw and "SIP/2.0 200" in inside_saw
    assert INSIDE not in outside_saw, outside_saw
    assert OUTSIDE not in inside_saw, inside_saw
    assert MASK in outside_saw and MASK in inside_saw  # the Contacts each side got
    assert "!!:" in outside_saw  # the Call-ID masked towards the callee
