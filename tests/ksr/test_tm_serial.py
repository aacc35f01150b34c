"""Serial forking written in the script (scripts/serial_fork.py: t_load_contacts(),
t_next_contacts() in the failure route) and t_relay_to_*(), the same traffic on a
real Kamailio 5.6 and on ``kamtool serve --route``; the other ways tm relays."""

from __future__ import annotations

import pytest

from tests.interop.wire import Peer, register
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.proxy.harness import wait_for
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"serial-{request.param}")
    with kemi_server(request.param, base, SCRIPTS / "serial_fork.py",
                     sip_port=low_free_port()) as t:  # fmt: skip
        yield t


def test_contacts_are_tried_by_q_one_group_per_failure_route(target):
    """Two contacts of q 1.0 ring together; when both are busy the failure route takes
    the q 0.5 one, whose 200 reaches the caller."""
    port = target.sip_port
    with Peer("udp", port) as a, Peer("udp", port) as b, Peer("udp", port) as c, \
            Peer("udp", port) as caller:  # fmt: skip
        for peer, q in ((a, "1.0"), (b, "1.0"), (c, "0.5")):
            contact = f"<sip:serial@127.0.0.1:{peer.port}>;q={q}"
            ok = register(peer, "serial", [f"Contact: {contact}", "Expires: 600"])
            assert ok.status == 200, ok.first
        caller.send(caller.request("INVITE", "sip:serial@127.0.0.1"))
        first, second = a.next_request(), b.next_request()
        assert first.method == second.method == "INVITE"
        a.reply_to(first, 486, "Busy Here")
        b.reply_to(second, 486, "Busy Here", to_tag="uas2")
        # the 486s are ACKed hop by hop
        assert a.next_request().method == b.next_request().method == "ACK"
        third = c.next_request()
        assert third.first.startswith(f"INVITE sip:serial@127.0.0.1:{c.port} ")
        c.reply_to(third, 200, "OK", to_tag="uas3")
        final = caller.final()
        assert final.status == 200 and "tag=uas3" in final.get("to"), final.first
        assert a.silence(0.5), "the first group rang again"
    wanted = "SERIAL failure replied=1 busy=1"
    assert wait_for(lambda: wanted in target.log_text(), 5), target.log_text()[-3000:]


@pytest.mark.parametrize("how", ["proxy udp:127.0.0.1:{port}", "addr {port}", "proto", "flags"])
def test_relay_to_where_the_call_says(target, how):
    """t_relay_to_proxy/_proto_addr to the gateway (the R-URI names another host), or
    t_relay_to_proto/_flags to the R-URI; flag 1 means no 100 Trying."""
    port = target.sip_port
    with Peer("udp", port) as caller, Peer("udp", port) as gw:
        uri = "sip:4930123@" + (f"127.0.0.1:{gw.port}" if "{" not in how else "example.net")
        caller.send(caller.request("INVITE", uri, headers=[f"X-Relay: {how.format(port=gw.port)}"]))
        req = gw.next_request()
        assert req.first.startswith(f"INVITE {uri} ")
        gw.reply_to(req, 404, "No Such Number")
        first = caller.recv()
        assert first.status == (404 if how == "flags" else 100), first.first
        final = first if first.status >= 200 else caller.final()
        assert (final.status, final.reason) == (404, "No Such Number")
