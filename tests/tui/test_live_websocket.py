"""WebSocket connections in the monitor and in ``stats``, against a real Kamailio 5.6 with
its websocket module and against ``kamtool serve`` with a ``ws:`` listener: the same
client connections show the same way on both, and both count them under the same 25
``websocket:`` statistics."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from textual.widgets import DataTable
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kamtool.tui.app import MonitorApp
from kamtool.tui.source import rpc_source
from tests.support.cli import invoke
from tests.support.jsonrpc import http_rpc
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable
from tests.tui.fake import settle

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CFG = Path(__file__).resolve().parents[1] / "edge" / "kamailio-ws.cfg"
MODULE = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so")
OPTIONS = (
    "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS c.invalid;branch=z9hG4bK-{n}\r\n"
    "From: <sip:mon@127.0.0.1>;tag={n}\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: ws-{n}\r\n"
    "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


class Server:
    def __init__(self, ws_url: str, rpc_url: str):
        self.ws_url, self.rpc_url = ws_url, rpc_url


@contextmanager
def kamailio(tmp_path: Path) -> Iterator[Server]:
    if shutil.which("kamailio") is None or not MODULE.is_file():
        unavailable("Kamailio 5.6 with its websocket module (kamailio-websocket-modules)")
    port = free_port()
    log = open(tmp_path / "kamailio.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["kamailio", "-f", str(CFG), "-l", f"tcp:127.0.0.1:{port}", "-DD", "-E",
         "-m", "32", "-M", "8", "-w", str(tmp_path), "-Y", str(tmp_path),
         "-P", str(tmp_path / "kamailio.pid")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    server = Server(f"ws://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/RPC")
    try:
        for _ in range(100):  # until its JSON-RPC answers
            if proc.poll() is not None:
                pytest.fail("Kamailio did not start:\n" + (tmp_path / "kamailio.log").read_text())
            try:
                http_rpc(server.rpc_url, "core.version", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        log.close()


@contextmanager
def kamtool(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    proxy = KamtoolProxy(tmp_path, extra_args=("--listen", f"ws:127.0.0.1:{port}")).start()
    try:
        yield Server(f"ws://127.0.0.1:{port}/", proxy.rpc_http_url)
    finally:
        proxy.stop()


SERVERS = {"kamailio": kamailio, "kamtool": kamtool}


def _addr(ws: ClientConnection) -> str:
    host, port = ws.local_address[:2]
    return f"{host}:{port}"


def _clients(stack: ExitStack, url: str, n: int) -> list[ClientConnection]:
    """``n`` WebSocket clients, each having sent an OPTIONS and read its answer."""
    clients = []
    for i in range(n):
        ws = stack.enter_context(connect(url, subprotocols=["sip"], open_timeout=10))
        ws.send(OPTIONS.format(n=i))
        assert ws.recv(timeout=10).startswith("SIP/2.0 ")  # 200 (Kamailio) or 407 (kamtool)
        clients.append(ws)
    return clients


@pytest.mark.parametrize("server", SERVERS)
def test_once_json_lists_the_connections(server, tmp_path):
    with SERVERS[server](tmp_path) as srv, ExitStack() as stack:
        clients = _clients(stack, srv.ws_url, 2)
        r = invoke("monitor", "--once", "--json", "--rpc", srv.rpc_url)
        assert r.exit_code == 0, r.stdout + r.stderr
        rows = r.json()["websockets"]
        port = int(srv.ws_url.rsplit(":", 1)[1].strip("/"))
        assert {w["source"] for w in rows} == {_addr(c) for c in clients}
        for w in rows:
            assert (w["proto"], w["local"], w["state"]) == ("ws", f"127.0.0.1:{port}", "OPEN")
            assert w["subprotocol"] == "sip" and not w["awaiting_pong"]
        stats = http_rpc(srv.rpc_url, "stats.get_statistics", "websocket:")
        values = dict(s.split(" = ") for s in stats)
        assert values["websocket:ws_current_connections"] == "2"
        assert values["websocket:ws_sip_successful_handshakes"] == "2"
        assert values["websocket:ws_received_frames"] == "2"
        assert values["websocket:ws_transmitted_frames"] == "2"


def test_same_websocket_statistics_names_as_kamailio(tmp_path):
    names = {}
    for server, make in SERVERS.items():
        (tmp_path / server).mkdir()
        with make(tmp_path / server) as srv:
            stats = http_rpc(srv.rpc_url, "stats.get_statistics", "websocket:")
            names[server] = {s.split(" = ")[0] for s in stats}
    assert len(names["kamailio"]) == 25
    assert names["kamtool"] == names["kamailio"]


@pytest.mark.parametrize("server", SERVERS)
async def test_live_monitor_shows_and_closes_a_connection(server, tmp_path):
    with SERVERS[server](tmp_path) as srv, ExitStack() as stack:
        first, second = _clients(stack, srv.ws_url, 2)
        app = MonitorApp(rpc_source(srv.rpc_url, timeout=5), interval=None)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("2")
            table = app.query_one("#ws-table", DataTable)
            sources = [table.get_row_at(i)[2] for i in range(table.row_count)]
            assert sorted(sources) == sorted(_addr(c) for c in (first, second))
            # the second client is used last, so it comes first (used_asc)
            second.send(OPTIONS.format(n=9))
            second.recv(timeout=10)
            time.sleep(1.1)  # "last used" has a resolution of one second
            app.poll_all()
            await settle(pilot)
            assert table.get_row_at(0)[2] == _addr(second)
            table.focus()
            await pilot.press("down", "w", "y")  # close the first client's connection
            await settle(pilot)
            with pytest.raises(ConnectionClosed):
                first.recv(timeout=10)
            assert first.close_code == 1000
            for _ in range(50):  # the server forgets the connection once the close is done
                app.poll_all()
                await settle(pilot)
                if table.row_count == 1:
                    break
                time.sleep(0.1)
            assert [table.get_row_at(i)[2] for i in range(table.row_count)] == [_addr(second)]
