"""``kamtool trap`` / ``pstrap`` against a running Kamailio 5.6 with gdb from Debian: the
file holds one backtrace per process of core.psx, and the summary says where they wait."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from kamtool.core.trap import parse_frames
from tests.support.cli import invoke
from tests.support.kamailio import Kamailio
from tests.support.require import unavailable

pytestmark = [pytest.mark.kamailio, pytest.mark.slow]


@pytest.fixture(scope="module")
def kam(tmp_path_factory):
    if not shutil.which("gdb"):
        unavailable("gdb is not installed")
    if not shutil.which("kamailio"):
        unavailable("kamailio is not installed")
    with Kamailio(tmp_path_factory.mktemp("trap"), seed=False) as k:
        yield k


def blocks(text: str) -> dict[int, str]:
    found = re.findall(r"^---start (\d+) -+\n(.*?)^---end \1 -+$", text, re.M | re.S)
    return {int(pid): body for pid, body in found}


def test_trap_writes_one_backtrace_per_process(kam, tmp_path):
    pids = [p["PID"] for p in kam.rpc("core.psx")]
    file = tmp_path / "trap.txt"
    r = invoke("--json", "--rpc", kam.rpc_http_url, "trap", "--file", str(file))
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = r.json()
    assert doc["file"] == str(file) and doc["processes"] == len(pids) and doc["failed"] == []
    found = blocks(file.read_text())
    assert sorted(found) == sorted(pids)
    for body in found.values():
        assert parse_frames(body)[-1] == "main"  # a whole stack, down to main()
    # the UDP receivers sit in recvfrom in udp_rcv_loop, as a listening Kamailio does
    udp = [g for g in doc["summary"] if g["loop"] == "udp_rcv_loop"]
    assert udp and udp[0]["waits_in"] == "recvfrom" and udp[0]["processes"] == 2
    assert sum(g["processes"] for g in doc["summary"]) == len(pids)


def test_pstrap_by_name_with_ps_lines_and_details(kam, tmp_path):
    file = tmp_path / "pstrap.txt"
    r = invoke("--rpc", kam.rpc_http_url, "pstrap", "--file", str(file), "--all")
    assert r.exit_code == 0, r.stderr
    text = file.read_text()
    assert text.startswith("---core.runinfo ")
    found = blocks(text)
    assert len(found) == len(kam.rpc("core.psx"))
    assert all("WCHAN" in body and "bt full" not in body for body in found.values())
    assert "WAITS IN" in r.stdout and f"trap file: {file}" in r.stderr


def test_without_rpc_the_processes_are_found_by_name(tmp_path):
    """The pidof way, on processes of a name only this test uses (tracing every
    "kamailio" here would stop other tests' servers for a moment)."""
    name = f"kt-trap-{tmp_path.name[-6:]}"[:15]
    exe = tmp_path / name
    exe.symlink_to(shutil.which("sleep"))
    sleepers = [subprocess.Popen([str(exe), "60"]) for _ in range(2)]
    try:
        file = tmp_path / "byname.txt"
        r = invoke("--json", "--rpc", "http://127.0.0.1:9/RPC", "trap", "--pidof", name,
                   "--file", str(file))  # fmt: skip
        assert r.exit_code == 0, r.stdout + r.stderr
        assert f"tracing every process named {name!r}" in r.stderr
        assert sorted(blocks(file.read_text())) == sorted(p.pid for p in sleepers)
        assert r.json()["summary"][0]["waits_in"] == "clock_nanosleep"
        r = invoke("--json", "trap", "-P", "--pidof", "kt-no-such-proc")
        assert r.exit_code == 3 and "no process named" in r.json()["error"]["message"]
    finally:
        for p in sleepers:
            p.kill()
            p.wait(10)


def test_a_missing_gdb_is_a_clear_error(kam, tmp_path):
    r = invoke("--json", "--rpc", kam.rpc_http_url, "trap", "--gdb", "no-such-gdb")
    assert r.exit_code == 3 and "apt-get install gdb" in r.json()["error"]["hint"]
