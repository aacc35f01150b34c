"""Endpoints an operator points kamtool at on a real Kamailio 5.6.

* A hung Kamailio (its processes stopped), over each transport: exit 10 ("no reply in
  time") and a hint that says the server may be hung. Over the FIFO and the datagram
  socket the hint spoke only of requests Kamailio cannot parse and of answers above
  128 KiB, which sent an operator whose `kamtool version` timed out the wrong way.
* kamcmd's ctl socket (``unix:/run/kamailio/kamailio_ctl``, BINRPC on a stream socket):
  "cannot send ...: Protocol wrong type for socket"; now it says what that socket is and
  which ones speak JSON-RPC.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.cli import invoke
from tests.support.kamailio import Kamailio, require_kamailio

pytestmark = pytest.mark.kamailio


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    require_kamailio()
    with Kamailio(tmp_path_factory.mktemp("hung"), seed=False) as k:
        yield k


@pytest.mark.parametrize("transport", ["http", "fifo", "dgram"])
def test_hung_server(kamailio, transport, monkeypatch):
    url = {"http": kamailio.rpc_http_url, "fifo": f"fifo:{kamailio.fifo_path}",
           "dgram": f"unix:{kamailio.dgram_path}"}[transport]  # fmt: skip
    monkeypatch.setenv("KAMTOOL_RPC_TIMEOUT", "1")
    group = kamailio.proc.pid  # its own session: every Kamailio process
    os.killpg(group, signal.SIGSTOP)
    try:
        r = invoke("--json", "--rpc", url, "version")
    finally:
        os.killpg(group, signal.SIGCONT)
    assert r.exit_code == 10, (r.stdout, r.stderr)
    err = r.json()["error"]
    assert "in time" in err["message"] and "hung" in err["hint"], err
    assert invoke("--rpc", url, "version").exit_code == 0  # and it answers again


def test_kamcmd_ctl_socket_is_named_for_what_it_is(kamailio):
    r = invoke("--json", "--rpc", f"unix:{kamailio.ctl_socket}", "version")
    assert r.exit_code == 6, (r.stdout, r.stderr)
    err = r.json()["error"]
    assert "stream socket" in err["message"], err
    assert "BINRPC" in err["hint"] and "kamailio_rpc.sock" in err["hint"], err
