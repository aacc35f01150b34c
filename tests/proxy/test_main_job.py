"""The README's main job on a fresh machine: `kamtool serve`, then `kamtool add 1001 pass`,
then a phone (sipsak) registers with digest auth. Nothing is configured: the default
SQLite database in the user's data directory is created by the proxy, which also records
the domain it serves, so `add` needs no domain."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.cli import invoke
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp


def test_serve_then_add_then_register(tmp_path):
    sip, rpc = free_port(), free_port()
    env = dict(os.environ)  # HOME/XDG_* point into tmp_path (tests/conftest.py)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "serve", "--listen", f"udp:127.0.0.1:{sip}",
         "--rpc-listen", f"127.0.0.1:{rpc}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while invoke("--rpc", f"http://127.0.0.1:{rpc}/RPC", "uptime").exit_code != 0:
            assert proc.poll() is None, proc.stderr.read()  # ready once JSON-RPC answers
            assert time.monotonic() < deadline, "kamtool serve did not start"
            time.sleep(0.2)

        added = invoke("add", "1001", "pass", "--no-reload")
        assert added.exit_code == 0, added.stderr
        assert "1001@127.0.0.1" in added.stderr

        target = f"sip:1001@127.0.0.1:{sip}"
        ok = subprocess.run(
            ["sipsak", "-U", "-C", "sip:1001@127.0.0.1:5999", "-s", target, "-a", "pass"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert ok.returncode == 0, ok.stdout + ok.stderr
        bad = subprocess.run(
            ["sipsak", "-U", "-C", "sip:1001@127.0.0.1:5998", "-s", target, "-a", "nope"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert bad.returncode != 0

        shown = invoke("--rpc", f"http://127.0.0.1:{rpc}/RPC", "--json", "ul", "show", "1001")
        assert shown.exit_code == 0, shown.stderr
        assert "5999" in shown.stdout and "5998" not in shown.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=15)
