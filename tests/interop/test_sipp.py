"""SIPp's built-in scenarios (-sn), as an outside tester runs them, through a real Kamailio
5.6 and through ``kamtool serve``, over UDP and TCP: 127.0.0.1 is trusted (address group 1)
so calls need no authentication; the callee is a SIPp UAS registered as 1002. Bounded: 20
calls at 20 cps per run."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.interop.conftest import TRANSPORTS
from tests.interop.wire import Peer, register
from tests.proxy.conftest import need
from tests.support.ports import free_port

pytestmark = [pytest.mark.sipp, pytest.mark.parametrize("transport", TRANSPORTS)]

CALLS = 20
SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}


def sipp_args(sn: str, transport: str, port: int, *extra: str) -> list[str]:
    return ["sipp", "-sn", sn, "-t", SIPP_TRANSPORT[transport], "-i", "127.0.0.1",
            "-p", str(port), "-nostdin", "-timeout", "20s", "-timeout_error", *extra]  # fmt: skip


def successful_calls(out: str) -> int:
    """The cumulative "Successful call" count of SIPp's final statistics screen."""
    counts = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", out)
    return int(counts[-1]) if counts else -1


@contextmanager
def uas_registered_as_1002(target, transport: str) -> Iterator[subprocess.Popen[str]]:
    """A SIPp ``-sn uas`` on its own port, registered as 1002 (contact with the transport);
    stopped (and unregistered) after the block."""
    need("sipp")
    port = free_port()
    contact = f"<sip:1002@127.0.0.1:{port};transport={transport}>"
    # registered from a socket that is closed before the calls: the server must reach the
    # UAS at its contact address
    with Peer(transport, target.sip_port) as reg:
        assert register(reg, "1002", [f"Contact: {contact}", "Expires: 600"]).status == 200
    uas = subprocess.Popen(
        sipp_args("uas", transport, port, "-m", str(CALLS)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp",
    )  # fmt: skip
    try:
        yield uas
    finally:
        uas.kill()
        uas.wait()
        with Peer(transport, target.sip_port) as reg:
            register(reg, "1002", ["Contact: *", "Expires: 0"])


def message_rows(out: str, name: str) -> list[list[int]]:
    """The counters (messages, retrans, timeout, unexpected) of every row for ``name`` in
    SIPp's final message table, in scenario order."""
    table = out.rsplit("Messages  Retrans", 1)[-1]
    rows = re.findall(rf"^\s+{name} (?:<|-)-+>?\s+(?:[BE]-RTD\d\s+)?([\d ]+?)\s*$", table, re.M)
    return [[int(n) for n in row.split()] for row in rows]


@pytest.mark.parametrize("sn", ["uac", "regexp"])
def test_builtin_uac_calls_a_registered_uas_through_the_server(target, transport, sn):
    """Every INVITE reaches the UAS and its 200 comes back. The built-in UAC scenarios
    ignore Record-Route: their BYE goes to the R-URI with a To tag and no Route, which
    the cfg's route[WITHINDLG] answers "404 Not here" (loose_route() finds no Route) on
    both servers, so SIPp counts every call failed."""
    before = dialog_stats(target)
    with uas_registered_as_1002(target, transport):
        res = subprocess.run(
            sipp_args(sn, transport, free_port(), "-s", "1002", "-m", str(CALLS), "-r", "20",
                      "-l", "5", "-d", "100", f"127.0.0.1:{target.sip_port}"),
            capture_output=True, text=True, timeout=60, cwd="/tmp",
        )  # fmt: skip
    out = res.stdout + res.stderr
    assert message_rows(res.stdout, "INVITE")[0][0] == CALLS, out[-3000:]
    invite_ok, bye_ok = message_rows(res.stdout, "200")
    assert invite_ok[0] == CALLS, out[-3000:]
    assert bye_ok[0] == 0 and bye_ok[3] == CALLS  # each BYE got an unexpected answer...
    assert "received 'SIP/2.0 404 Not here" in out  # ...404 Not here (SIPp logs the last)
    assert res.returncode != 0 and successful_calls(res.stdout) == 0
    after = dialog_stats(target)
    # every call became a dialog, and stays confirmed: its BYE never passed
    assert after["processed_dialogs"] - before["processed_dialogs"] == CALLS
    assert after["active_dialogs"] - before["active_dialogs"] == CALLS


def dialog_stats(target) -> dict[str, int]:
    """The dialog module's counters (stats.get_statistics "dialog:")."""
    out = {}
    for line in target.rpc("stats.get_statistics", "dialog:"):
        name, _, value = line.partition(" = ")
        out[name.split(":", 1)[1]] = int(value)
    return out
