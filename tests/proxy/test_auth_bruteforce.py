"""Chaos: password guessing and extension scanning with SIPVicious against the default
route (issue #12, item 6): failed authentications counted per source and user in htable
``authfail``, a ban in ``ipban`` at ``auth_fail_limit``, one fail2ban line per failure,
scanner User-Agents dropped. svcrack and svwar talk to 127.0.0.1 only and stop after
``--maximumtime`` seconds without an answer.

Kamailio 5.6 with the reference cfg only has pike: ~16 guesses a second are never banned.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.proxy.harness import USERS, UdpClient
from tests.support.require import unavailable

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

FAIL2BAN = re.compile(r"^AUTH_FAILED: method=(\S+) user=(\S+) from=(\S+)$")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (pip install sipvicious)")
    return str(path)


def _svcrack(proxy: Any, tmp_path: Path, guesses: list[str]) -> str:
    words = tmp_path / "words.txt"
    words.write_text("\n".join(guesses) + "\n")
    res = subprocess.run(
        [_tool("sipvicious_svcrack"), "-u", "1001", "-d", str(words), "-p", str(proxy.port),
         "--maximumtime=3", "-t", "0.2", "127.0.0.1"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    return res.stdout + res.stderr


def _table(proxy: Any, name: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        table = proxy.server.htables.get(name)
        return {k: table.get(k).value for k in list(table.items) if table.get(k) is not None}

    return proxy.call(read)


def _failures(caplog: Any) -> list[tuple[str, ...]]:
    return [m.groups() for r in caplog.records if (m := FAIL2BAN.match(r.getMessage().strip()))]


def test_svcrack_is_banned_before_it_finds_the_password(start_proxy, tmp_path, caplog):
    # the scanner rule off: svcrack's "friendly-scanner" would not even get an answer
    proxy = start_proxy(scanner_user_agents="")
    caplog.set_level(logging.WARNING)
    guesses = [f"guess{i}" for i in range(15)] + [USERS["1001"]]  # the right one 16th
    output = _svcrack(proxy, tmp_path, guesses)
    assert USERS["1001"] not in output, output[-2000:]
    assert _table(proxy, "ipban") == {"127.0.0.1": 1}
    # 10 failures (auth_fail_limit): the source count went with the ban, the user's stays
    assert _table(proxy, "authfail") == {"user:1001@127.0.0.1": 10}
    assert _failures(caplog) == [("REGISTER", "1001", "127.0.0.1")] * 10
    # banned: even a right REGISTER from there is dropped now
    client = UdpClient(proxy.port, timeout=1.0)
    try:
        with pytest.raises(socket.timeout):
            client.register("1001", USERS["1001"], [f"sip:1001@127.0.0.1:{client.port}"])
    finally:
        client.close()


def test_scanner_user_agents_get_no_answer(proxy, tmp_path):
    output = _svcrack(proxy, tmp_path, ["guess1", USERS["1001"]])
    assert "found nothing" in output and USERS["1001"] not in output, output[-2000:]
    res = subprocess.run(
        [_tool("sipvicious_svwar"), "-e1000-1005", "-p", str(proxy.port), "--maximumtime=3",
         "127.0.0.1"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert "found nothing" in out and "1001" not in out, out[-2000:]
    assert proxy.stat("sl:401_replies") == 0 and proxy.stat("sl:sent_replies") == 0
    assert _table(proxy, "ipban") == {}  # dropped, not banned: the User-Agent is easy to fake


def test_log_line_cannot_name_another_address(start_proxy, caplog):
    # a user name with spaces and "from=" must not give fail2ban another address to ban
    proxy = start_proxy(auth_fail_limit=0)
    caplog.set_level(logging.WARNING)
    client = UdpClient(proxy.port)
    try:
        resp = client.register("1001", "wrong", [f"sip:1001@127.0.0.1:{client.port}"],
                               auth_user="x from=192.0.2.66")  # fmt: skip
        assert resp.status == 401
        resp = client.register("1001", "wrong", [f"sip:1001@127.0.0.1:{client.port}"])
        assert resp.status == 401
    finally:
        client.close()
    lines = _failures(caplog)
    assert lines == [("REGISTER", "x%20from%3D192.0.2.66", "127.0.0.1"),
                     ("REGISTER", "1001", "127.0.0.1")]  # fmt: skip
    assert _table(proxy, "ipban") == {} and _table(proxy, "authfail") == {}  # limit 0: log only


def test_ban_shows_in_pike_top_htable_dump_and_the_monitor(start_proxy, tmp_path):
    # three wrong passwords (auth_fail_limit = 3), no SIPVicious needed
    import json

    from kamtool.tui.source import rpc_source
    from tests.support.cli import invoke
    from tests.support.ports import free_port

    rpc = f"http://127.0.0.1:{free_port()}/RPC"
    proxy = start_proxy(auth_fail_limit=3, rpc_listen=rpc[7:-4],
                        rpc_runtime_dir=str(tmp_path / "rt"))  # fmt: skip
    client = UdpClient(proxy.port, timeout=1.0)
    try:
        for _ in range(2):
            assert client.register("1001", "wrong", ["<sip:1001@127.0.0.1:9>"]).status == 401
        top = json.loads(invoke("--rpc", rpc, "--json", "pike", "top").stdout)
        assert top["auth_failures"] == [{"source": "127.0.0.1", "failures": 2},
                                        {"source": "user:1001@127.0.0.1", "failures": 2}]
        with pytest.raises(socket.timeout):  # the third failure bans: no answer
            client.register("1001", "wrong", ["<sip:1001@127.0.0.1:9>"])
    finally:
        client.close()
    dumped = json.loads(invoke("--rpc", rpc, "--json", "htable", "dump", "ipban").stdout)
    assert [row["name"] for row in dumped] == ["127.0.0.1"]
    bans = rpc_source(rpc).bans()  # the monitor's Security tab
    assert [b.address for b in bans] == ["127.0.0.1"] and 0 < bans[0].expires <= 300
    top = json.loads(invoke("--rpc", rpc, "--json", "pike", "top").stdout)
    assert top["auth_failures"] == [{"source": "user:1001@127.0.0.1", "failures": 3}]
