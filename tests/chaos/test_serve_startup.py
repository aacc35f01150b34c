"""Chaos: ``kamtool serve`` started wrongly ends cleanly, before binding anything it should
not (issue #12, item 8)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.support.kamtool_proxy import isolated_env
from tests.support.ports import free_port

pytestmark = pytest.mark.chaos


def _serve(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "kamtool", "--db", f"sqlite:///{tmp_path / 'k.sqlite'}",
           "serve", "--log-level", "info", *args]  # fmt: skip
    return subprocess.run(cmd, env=isolated_env(home), capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_non_loopback_rpc_without_token_is_refused_before_sip_binds(tmp_path):
    sip = free_port()
    rpc = f"0.0.0.0:{free_port()}"
    r = _serve(tmp_path, "--listen", f"udp:127.0.0.1:{sip}", "--rpc-listen", rpc)
    assert r.returncode == 8, r.stderr
    assert "without a token" in r.stderr and "KAMTOOL_RPC_TOKEN" in r.stderr
    assert "listening on" not in r.stderr  # nothing was bound first
    assert "Traceback" not in r.stderr


def test_busy_rpc_port_is_a_clean_error_like_a_busy_sip_port(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        r = _serve(tmp_path, "--listen", f"udp:127.0.0.1:{free_port()}",
                   "--rpc-listen", f"127.0.0.1:{busy}")  # fmt: skip
        assert r.returncode == 8, r.stderr
        assert "Traceback" not in r.stderr
        assert f"cannot serve JSON-RPC on 127.0.0.1:{busy}" in r.stderr
        assert "another server" in r.stderr and "--rpc-listen" in r.stderr
        # the same shape as a busy SIP port
        r2 = _serve(tmp_path, "--listen", f"tcp:127.0.0.1:{busy}", "--rpc-listen", "")
        assert r2.returncode == 8 and "another server" in r2.stderr and "--listen" in r2.stderr


def test_listen_on_an_address_the_host_lacks_says_so(tmp_path):
    # 192.0.2.0/24 is TEST-NET-1: never a local address; binding it sends nothing
    r = _serve(tmp_path, "--listen", f"udp:192.0.2.1:{free_port()}", "--rpc-listen", "")
    assert r.returncode == 8, r.stderr
    assert "no such address" in r.stderr and "another server" not in r.stderr
    assert "Traceback" not in r.stderr
