"""Our server core answering a real SIPp UAC (built-in ``uac`` scenario), no proxy between.

SIPp sends INVITE, expects 180/200, sends ACK, pauses, sends BYE and expects 200; its exit
status says whether every message it got was what it expected, in time.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from kamtool.sip.dialog import Dialog, DialogState
from kamtool.sip.events import RequestReceived
from kamtool.sip.message import make_response
from tests.support.ports import free_port
from tests.support.require import unavailable

from .sipua import UA

pytestmark = pytest.mark.sipp


def test_sipp_uac_call_answered_by_our_uas():
    if shutil.which("sipp") is None:
        unavailable("sipp is not installed (scripts/test installs it)")
    callee = UA("1002", proxy_port=0)
    sipp_port = free_port()
    cmd = ["sipp", "-sn", "uac", "-m", "1", "-i", "127.0.0.1", "-p", str(sipp_port),
           "-s", "1002", f"127.0.0.1:{callee.port}", "-d", "200", "-timeout", "20",
           "-timeout_error", "-nostdin"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        invite = callee.wait(lambda e: isinstance(e, RequestReceived) and e.key is not None)
        assert invite.request.method == "INVITE" and invite.source.port == sipp_port
        dialog = Dialog.from_uas(invite.request, local_tag="kt-uas")
        for status in (180, 200):
            resp = make_response(invite.request, status, to_tag="kt-uas")
            resp.headers.add("Contact", f"<sip:1002@127.0.0.1:{callee.port}>")
            now = time.monotonic()
            callee.perform(
                callee.layer.send_response(invite.key, resp, now, retransmit_2xx=status == 200)
            )
        dialog.confirm()

        ack = callee.wait(lambda e: isinstance(e, RequestReceived) and e.request.method == "ACK")
        assert dialog.matches(ack.request) and dialog.receive_request(ack.request) is None
        assert not callee.layer.awaiting_ack(invite.key)

        bye = callee.wait(lambda e: isinstance(e, RequestReceived) and e.request.method == "BYE")
        assert dialog.matches(bye.request) and dialog.receive_request(bye.request) is None
        assert dialog.state is DialogState.TERMINATED
        ok = make_response(bye.request, 200)
        callee.perform(callee.layer.send_response(bye.key, ok, time.monotonic()))
        assert proc.wait(timeout=20) == 0, proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        callee.close()
