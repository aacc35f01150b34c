"""tm's branch, onreply and failure routes of a KEMI script (scripts/tm_routes.py), the
same traffic on a real Kamailio 5.6 and on ``kamtool serve --route``: what each route
runs for and sees, what reaches the callees, and what the caller is finally told."""

from __future__ import annotations

import pytest

from tests.interop.wire import Peer
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.proxy.harness import wait_for
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"tm-{request.param}")
    with kemi_server(request.param, base, SCRIPTS / "tm_routes.py",
                     sip_port=low_free_port()) as t:  # fmt: skip
        yield t


def test_busy_goes_on_in_the_failure_route_and_a_503_ends_as_500(target):
    """First callee: 180, 486 (busy); the failure route sends the call to the second,
    which answers 503: the caller gets 500 (RFC 3261 16.7: a 503 is not passed up)."""
    port = target.sip_port
    with Peer("udp", port) as caller, Peer("udp", port) as busy, Peer("udp", port) as vm:
        nxt = f"sip:vm@127.0.0.1:{vm.port}"
        caller.send(caller.request("INVITE", f"sip:busy@127.0.0.1:{busy.port}",
                                   headers=[f"X-Next: {nxt}"]))  # fmt: skip
        first = busy.next_request()
        assert first.all("x-branch") == ["0"], first.headers
        busy.reply_to(first, 180, "Ringing")
        busy.reply_to(first, 486, "Busy Here")
        second = vm.next_request()
        # branch 0's header stayed on branch 0; the failure route did not arm the branch
        # route again, so branch 1 has none
        assert second.all("x-branch") == [] and second.all("x-diverted") == ["busy"]
        assert second.first.startswith(f"INVITE {nxt} ")
        vm.reply_to(second, 503, "Down for maintenance")
        final = caller.final()
        assert (final.status, final.reason) == (500, "Service Unavailable"), final.first
    log = target.log_text()
    wanted = ["TMTEST onreply 180 avp=m-busy", "TMTEST onreply 486 avp=m-busy",
              f"TMTEST failure 486 du=sip:127.0.0.1:{busy.port}",
              "TMTEST onreply 503 avp=m-busy",
              "TMTEST status [1, 1, -1, 1, -1]"]  # fmt: skip
    assert wait_for(lambda: all(w in target.log_text() for w in wanted), 5), log[-3000:]
    assert "TMTEST failure 503" not in target.log_text()  # not armed again


def test_a_branch_route_can_change_only_its_branch(target):
    """One branch, answered 404 straight away: the onreply route runs for the final reply
    too, the caller gets the 404 (no X-Next: the failure route relays nothing)."""
    port = target.sip_port
    with Peer("udp", port) as caller, Peer("udp", port) as callee:
        caller.send(caller.request("INVITE", f"sip:nobody@127.0.0.1:{callee.port}"))
        req = callee.next_request()
        assert req.all("x-branch") == ["0"]
        callee.reply_to(req, 404, "Not Here")
        final = caller.final()
        assert (final.status, final.reason) == (404, "Not Here")
    assert wait_for(lambda: "TMTEST onreply 404 avp=m-nobody" in target.log_text(), 5)
