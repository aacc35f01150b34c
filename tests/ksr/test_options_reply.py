"""siputils' ``options_reply()`` (scripts/options_reply.py) on a real Kamailio 5.6 and on
``kamtool serve --route``: the 200 to an OPTIONS for the server with what it accepts, and
-1 for an OPTIONS to a user or another method."""

from __future__ import annotations

import pytest

from tests.interop.wire import Peer
from tests.ksr.conftest import SCRIPTS, TARGETS
from tests.support.kemi import kemi_server
from tests.support.ports import low_free_port


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"options-{request.param}")
    with kemi_server(request.param, base, SCRIPTS / "options_reply.py",
                     sip_port=low_free_port()) as t:  # fmt: skip
        yield t


def test_options_reply_answers_for_the_server_only(target):
    port = target.sip_port
    with Peer("udp", port) as ua:
        ok = ua.ask(ua.request("OPTIONS", f"sip:127.0.0.1:{port}"))
        assert (ok.status, ok.reason) == (200, "OK")
        assert ok.get("accept") == "*/*" and ok.get("accept-language") == "en"
        assert ok.all("accept-encoding") == [""] and ok.all("supported") == [""]
        user = ua.ask(ua.request("OPTIONS", f"sip:alice@127.0.0.1:{port}"))
        assert (user.status, user.reason) == (404, "Not answered -1")
        other = ua.ask(ua.request("MESSAGE", f"sip:127.0.0.1:{port}"))
        assert (other.status, other.reason) == (404, "Not answered -1")
