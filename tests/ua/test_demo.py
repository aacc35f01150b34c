"""``kamtool demo --no-monitor`` as a first user runs it: a real ``kamtool serve`` child,
two simulated phones on loopback, a call with its 407, 180, 200, ACK and BYE, and nothing
left behind (temporary directory, proxy process, ports)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.cli import invoke

ROOT = Path(__file__).resolve().parents[2]


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kamtool demo ARGS`` in a child whose HOME (with the XDG directories and TMPDIR in
    it) is ``tmp_path/user``, to see what stays behind."""
    user = tmp_path / "user"
    (user / "tmp").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMTOOL_")}
    env.update(HOME=str(user), TMPDIR=str(user / "tmp"), XDG_RUNTIME_DIR=str(user / "run"),
               XDG_CONFIG_HOME=str(user / ".config"), XDG_DATA_HOME=str(user / ".local/share"),
               PYTHONPATH=str(ROOT))  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "kamtool", "demo", "--no-monitor", "--hold", "0.2", *args],
        capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def assert_free(port: int) -> None:
    """The proxy's ports are released: binding them again works (SO_REUSEADDR lets TCP
    connections in TIME_WAIT be, not a listener)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            if kind == socket.SOCK_STREAM:
                s.listen()


def test_demo_calls_with_digest_ringing_answer_ack_and_bye(tmp_path):
    proc = run_demo(tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    ladder = [
        line.split(None, 1)[1] for line in out.splitlines() if re.match(r"\s+\d+\.\d{3}\s", line)
    ]
    # every step of the call, in this order, as the phones saw it
    wanted = [
        "1001 → proxy  REGISTER sip:127.0.0.1",
        "proxy → 1001  401 Unauthorized (REGISTER)",
        "1001 → proxy  REGISTER sip:127.0.0.1 (with digest credentials)",
        "proxy → 1001  200 OK (REGISTER)",
        "proxy → 1002  200 OK (REGISTER)",
        "1001 → proxy  INVITE sip:1002@127.0.0.1",
        "proxy → 1001  407 Proxy Authentication Required (INVITE)",
        "1001 → proxy  ACK sip:1002@127.0.0.1",
        "1001 → proxy  INVITE sip:1002@127.0.0.1 (with digest credentials)",
        "proxy → 1002  INVITE",
        "1002 → proxy  180 Ringing (INVITE)",
        "proxy → 1001  180 Ringing (INVITE)",
        "1002 → proxy  200 OK (INVITE)",
        "proxy → 1001  200 OK (INVITE)",
        "1001 → proxy  ACK",
        "proxy → 1002  ACK",
        "1001 → proxy  BYE",
        "proxy → 1002  BYE",
        "1002 → proxy  200 OK (BYE)",
        "proxy → 1001  200 OK (BYE)",
    ]
    position = 0
    for step in wanted:
        found = [i for i, line in enumerate(ladder) if i >= position and line.startswith(step)]
        assert found, f"{step!r} missing after line {position} of:\n{out}"
        position = found[0] + 1
    assert "the proxy's dialog: confirmed; BYE: 200" in out
    assert "accounted (acc): INVITE 200 OK" in out and "accounted (acc): BYE 200 OK" in out
    # nothing left behind: no temporary directory, the proxy's ports free again
    assert list((tmp_path / "user" / "tmp").iterdir()) == []
    proxy_port = int(re.search(r"on udp:127\.0\.0\.1:(\d+)", out).group(1))
    rpc_port = int(re.search(r"JSON-RPC http://127\.0\.0\.1:(\d+)/RPC", out).group(1))
    assert_free(proxy_port)
    assert_free(rpc_port)
    # nor anything in HOME or the runtime directory (no discovery record, no database)
    assert [p.name for p in (tmp_path / "user").iterdir()] == ["tmp"]


def test_demo_json_reports_the_call(tmp_path):
    proc = run_demo(tmp_path, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["registered"] == ["sip:1001@127.0.0.1", "sip:1002@127.0.0.1"]
    assert (doc["challenged"], doc["call_status"], doc["bye_status"]) == (407, 200, 200)
    assert 180 in doc["provisional"]
    assert doc["server_dialogs"] == ["confirmed"]
    assert [(c["method"], c["sip_code"]) for c in doc["cdrs"]] == [
        ("INVITE", "200"),
        ("BYE", "200"),
    ]
    assert "password" not in proc.stdout.lower()
    assert list((tmp_path / "user" / "tmp").iterdir()) == []


def test_demo_without_a_terminal_asks_for_no_monitor():
    r = invoke("demo")
    assert r.exit_code == 2
    assert "--no-monitor" in r.stderr
