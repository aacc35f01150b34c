"""Route scripts written by a user change one behaviour each: a From user refused with
403, a number prefix routed to a fixed gateway (a SIPp UAS); both in app_python3s style
(module-level routes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ksr.conftest import SCRIPTS
from tests.ksr.peers import ask_authenticated
from tests.proxy import harness
from tests.proxy.conftest import need
from tests.proxy.harness import UdpClient, explain, register, sipp_peer
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp


def policy(tmp_path: Path, **names: str) -> str:
    """A copy of scripts/policy.py with its policy names set."""
    text = (SCRIPTS / "policy.py").read_text()
    for name, value in names.items():
        head = f"{name} = "
        line = next(x for x in text.splitlines() if x.startswith(head))
        text = text.replace(line, f"{head}{value!r}")
    path = tmp_path / "policy.py"
    path.write_text(text)
    return str(path)


def test_one_from_user_gets_403_and_the_others_are_served(start_proxy, tmp_path):
    proxy = start_proxy(route=policy(tmp_path, FORBIDDEN_USER="1003"))
    client = UdpClient(proxy.port)
    try:
        uri = f"sip:1002@127.0.0.1:{proxy.port}"
        resp = client.ask("MESSAGE", uri, from_user="1003")
        assert (resp.status, resp.reason) == (403, "Forbidden by policy")
        resp = ask_authenticated(client, "MESSAGE", uri, user="1001")
        assert (resp.status, resp.reason) == (404, "Not Found")  # 1002 is not registered
        ok = client.register("1001", "secret1001", [f"<sip:1001@127.0.0.1:{client.port}>"])
        assert ok.status == 200
    finally:
        client.close()


def test_a_prefix_goes_to_the_gateway(start_proxy, tmp_path):
    need("sipp")
    gw_port = free_port()
    route = policy(tmp_path, GATEWAY_URI=f"sip:127.0.0.1:{gw_port}", FORBIDDEN_USER="")
    proxy = start_proxy(route=route)
    with sipp_peer("uas_answer.xml", proxy.port, gw_port):
        res = harness.call(proxy.port, callee="00123456")
        assert res.returncode == 0, explain(res)
    assert proxy.stat("core:rcv_requests_bye") == 1
    # the same number without the gateway's prefix is looked up locally: nobody there
    need("sipp")
    register(proxy.port, "1002", free_port())
    client = UdpClient(proxy.port)
    try:
        resp = ask_authenticated(client, "MESSAGE", f"sip:123456@127.0.0.1:{proxy.port}")
        assert resp.status == 404
    finally:
        client.close()


REPLY_HEADER_SCRIPT = '''
import KSR


def ksr_request_route():
    KSR.hdr.append_to_reply("X-Why: policy\\r\\n")
    if KSR.pv.get("$fU") == "1003":
        KSR.sl.sl_send_reply(403, "Forbidden by policy")
        return 1
    KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
    return 1
'''


def test_append_to_reply_reaches_our_replies_not_the_request(start_proxy, tmp_path):
    """hdr.append_to_reply adds its line to each reply the route makes (sl_send_reply,
    auth_challenge) and leaves the request alone, as textops' append_to_reply."""
    script = tmp_path / "reply_header.py"
    script.write_text(REPLY_HEADER_SCRIPT)
    proxy = start_proxy(route=str(script))
    client = UdpClient(proxy.port)
    try:
        uri = f"sip:1002@127.0.0.1:{proxy.port}"
        resp = client.ask("MESSAGE", uri, from_user="1003")
        assert (resp.status, resp.headers.get("x-why")) == (403, "policy")
        resp = client.ask("MESSAGE", uri, from_user="1001")
        assert resp.status == 407 and resp.headers.get("x-why") == "policy"
        assert resp.headers.get("proxy-authenticate")
    finally:
        client.close()
