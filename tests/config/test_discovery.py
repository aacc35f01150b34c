"""Clients find the server: a running `kamtool serve` first, then the usual endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from kamtool.db.url import db_identity
from kamtool.errors import RpcUnavailable
from kamtool.rpc import client as client_mod
from kamtool.rpc import discovery
from kamtool.rpc.client import RpcClient
from tests.support.cli import invoke
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port

REAL_FIFOS = ("/run/kamailio/kamailio_rpc.fifo", "/var/run/kamailio/kamailio_rpc.fifo")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_records_of_live_servers_are_found_and_stale_ones_removed(tmp_path):
    stale = discovery.write_record(["http://127.0.0.1:1/RPC"], tmp_path, pid=_dead_pid())
    with discovery.serving(["http://127.0.0.1:2/RPC", "fifo:/x"], tmp_path) as mine:
        assert mine is not None and oct(mine.stat().st_mode & 0o777) == "0o600"
        assert discovery.recorded_endpoints(tmp_path) == ["http://127.0.0.1:2/RPC", "fifo:/x"]
        assert not stale.exists()
    assert not mine.exists() and discovery.recorded_endpoints(tmp_path) == []


def test_candidates_start_with_the_recorded_server(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    # the real defaults (tests/conftest.py points them away from this machine's servers)
    monkeypatch.setattr(discovery, "DEFAULT_HTTP_URL", "http://127.0.0.1:5071/RPC")
    monkeypatch.setattr(discovery, "KAMAILIO_FIFOS", REAL_FIFOS)
    monkeypatch.setattr(discovery, "KAMAILIO_SOCKETS", ("/run/kamailio/kamailio_rpc.sock",))
    with discovery.serving(discovery.server_urls("0.0.0.0", 5999, tmp_path / "r")):
        urls = discovery.candidates()
    assert urls[:4] == [
        "http://127.0.0.1:5999/RPC",
        f"fifo:{tmp_path}/r/kamtool_rpc.fifo",
        f"unix:{tmp_path}/r/kamtool_rpc.sock",
        "http://127.0.0.1:5071/RPC",
    ]
    assert "fifo:/run/kamailio/kamailio_rpc.fifo" in urls
    assert "unix:/run/kamailio/kamailio_rpc.sock" in urls


def test_the_error_lists_every_endpoint_tried(tmp_path, monkeypatch):
    dead = [f"http://127.0.0.1:{free_port()}/RPC", f"fifo:{tmp_path}/no.fifo",
            f"unix:{tmp_path}/no.sock"]  # fmt: skip
    monkeypatch.setattr(client_mod, "default_candidates", lambda db=None: list(dead))
    with pytest.raises(RpcUnavailable) as err:
        RpcClient(timeout=2).call("core.version")
    assert err.value.details["tried"] == dead
    for url in dead:
        assert url.split(":", 1)[1].split("/RPC")[0].lstrip("/") in err.value.message
    r = invoke("ul", "show")  # what a user sees: exit 6 naming each of them
    assert r.exit_code == 6
    assert "tried:" in r.stderr
    assert all(f"{tmp_path}/no.{x}" in r.stderr for x in ("fifo", "sock")) and dead[0] in r.stderr


@pytest.mark.slow
def test_ul_show_finds_a_running_kamtool_serve_without_flags(tmp_path):
    with KamtoolProxy(tmp_path, seed=False) as p:
        env = {"XDG_RUNTIME_DIR": str(p.dir / "home" / "run")}  # the server's runtime dir
        records = list((p.dir / "home" / "run" / "kamtool").glob("serve-*.json"))
        assert len(records) == 1
        ok = invoke("ul", "add", "1001@127.0.0.1", "sip:1001@127.0.0.1:5999", env=env)
        assert ok.exit_code == 0, ok.stderr
        r = invoke("--json", "ul", "show", env=env)
        assert r.exit_code == 0, r.stderr
        assert "sip:1001@127.0.0.1:5999" in r.stdout
        # --rpc and KAMTOOL_RPC_URL still win over the recorded server
        dead = f"http://127.0.0.1:{free_port()}/RPC"
        assert invoke("--rpc", dead, "ul", "show", env=env).exit_code == 6
        assert invoke("ul", "show", env={**env, "KAMTOOL_RPC_URL": dead}).exit_code == 6
    assert not any(os.scandir(p.dir / "home" / "run" / "kamtool"))  # record gone on exit


def test_records_others_could_write_are_ignored(tmp_path):
    directory = tmp_path / "rt"
    discovery.write_record(["http://127.0.0.1:3/RPC"], directory)
    assert discovery.recorded_endpoints(directory) == ["http://127.0.0.1:3/RPC"]
    directory.chmod(0o777)  # a shared directory: anybody could have planted it
    assert discovery.recorded_endpoints(directory) == []
    directory.chmod(0o700)
    record = next(directory.glob("serve-*.json"))
    record.chmod(0o666)
    assert discovery.recorded_endpoints(directory) == []


def test_servers_of_the_clients_database_come_first(tmp_path):
    """Several recorded servers: those of the client's database first (whatever their
    age), then those that did not say which, then the others."""
    mine, other = db_identity("sqlite:////srv/a.sqlite"), db_identity("sqlite:////srv/b.sqlite")
    discovery.write_record(["http://127.0.0.1:1/RPC"], tmp_path, pid=os.getppid(), db=mine)
    time.sleep(0.01)
    discovery.write_record(["http://127.0.0.1:3/RPC"], tmp_path, pid=1, db=None)
    time.sleep(0.01)
    discovery.write_record(["http://127.0.0.1:2/RPC"], tmp_path, pid=os.getpid(), db=other)
    assert discovery.recorded_endpoints(tmp_path, db=mine) == [
        "http://127.0.0.1:1/RPC", "http://127.0.0.1:3/RPC", "http://127.0.0.1:2/RPC",
    ]  # fmt: skip
    assert discovery.recorded_endpoints(tmp_path)[0] == "http://127.0.0.1:2/RPC"  # newest


def test_one_database_spelled_two_ways_is_one_identity(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert db_identity("sqlite:///k.sqlite") == db_identity(f"sqlite:///{tmp_path}/k.sqlite")
    assert db_identity(f"{tmp_path}/k.sqlite") == f"sqlite:{tmp_path}/k.sqlite"
    assert db_identity("mysql://kamailio:pw@localhost/kamailio") == db_identity(
        "mariadb://root@127.0.0.1:3306/kamailio"
    ) == "mysql://127.0.0.1:3306/kamailio"  # no credentials in it
    assert db_identity("postgres://h/k") == db_identity("postgresql://u:p@h:5432/k")
    assert db_identity("postgres://h/k") != db_identity("postgres://h/other")
    assert db_identity("mysql://h:99999/k") is None  # unreadable: not compared


@pytest.mark.slow
def test_an_edit_reloads_the_server_of_its_database(tmp_path):
    """Two `kamtool serve` on one host (one runtime directory): an edit of the older one's
    database without --rpc reloads the older one, not the newest; the second server
    records only the endpoints it holds (the first keeps the FIFO and socket)."""
    a, b = KamtoolProxy(tmp_path / "a"), KamtoolProxy(tmp_path / "b")
    b.home = a.home
    b.run_dir.rmdir()
    b.run_dir = a.run_dir  # one rpc_runtime_dir: the FIFO and socket go to the first
    with a, b:  # b is the newer
        records = {
            json.loads(r.read_text())["db"]: json.loads(r.read_text())["endpoints"]
            for r in (a.home / "run" / "kamtool").glob("serve-*.json")
        }  # fmt: skip
        assert records[db_identity(b.db_url)] == [f"http://127.0.0.1:{b.http_port}/RPC"]
        assert len(records[db_identity(a.db_url)]) == 3  # HTTP, FIFO, socket
        added = a.kamtool("dispatcher", "add", "6", "sip:10.6.6.6:5060")
        assert added.returncode == 0, added.stderr
        shown = a.kamtool("--json", "dispatcher", "list")
        assert shown.returncode == 0 and "10.6.6.6" in shown.stdout, shown.stderr
        other = b.kamtool("--json", "dispatcher", "list")
        assert other.returncode == 0 and "10.6.6.6" not in other.stdout
