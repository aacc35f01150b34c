"""db_mode 1: a proxy killed with SIGKILL under REGISTER load loses no acknowledged binding."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from kamtool.proxy.usrloc import LocationStore
from kamtool.sip.digest import answer_challenge, parse_challenge
from kamtool.sip.parser import parse_message
from tests.proxy.conftest import USERS
from tests.proxy.harness import low_free_port


def _register(sock, proxy_port, n, creds_for=None):
    """One REGISTER for contact #n; returns the response (parsed)."""
    local = sock.getsockname()[1]
    contact = f"sip:1001-{n}@127.0.0.1:{local}"
    lines = [
        f"REGISTER sip:127.0.0.1:{proxy_port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-load-{n}-{1 if creds_for else 0}",
        f"From: <sip:1001@127.0.0.1>;tag=t{n}",
        "To: <sip:1001@127.0.0.1>",
        f"Call-ID: load-{n}@127.0.0.1",
        f"CSeq: {2 if creds_for else 1} REGISTER",
        f"Contact: <{contact}>",
        "Expires: 3600",
        "Max-Forwards: 70",
    ]
    if creds_for:
        lines.append(f"Authorization: {creds_for}")
    data = ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()
    sock.sendto(data, ("127.0.0.1", proxy_port))
    return parse_message(sock.recv(65535)), contact


def test_sigkill_under_register_load_keeps_every_acknowledged_binding(proxy_db):
    port = low_free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "--db", proxy_db, "serve", "--listen",
         f"udp:127.0.0.1:{port}", "--db-mode", "1", "--rpc-listen", "", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    acked: list[str] = []
    stop = threading.Event()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until the proxy answers
            try:
                resp, _ = _register(sock, port, 0)
                break
            except OSError:
                continue
        else:
            pytest.fail("proxy did not start: " + proc.stderr.read().decode()[-2000:])

        def load():
            n = 1
            while not stop.is_set():
                try:
                    challenge, _ = _register(sock, port, n)
                    ch = parse_challenge(challenge.headers.get("www-authenticate"))
                    creds = answer_challenge(
                        ch,
                        cnonce="0a4f113b",
                        method="REGISTER",
                        uri=f"sip:127.0.0.1:{port}",
                        username="1001",
                        password=USERS["1001"],
                    )
                    ok, contact = _register(sock, port, n, creds.to_header())
                except OSError:
                    return  # the proxy is gone
                if ok.status == 200:
                    acked.append(contact)
                n += 1

        worker = threading.Thread(target=load)
        worker.start()
        while len(acked) < 100 and worker.is_alive():
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load, no shutdown flush
        proc.wait(10)
        stop.set()
        worker.join(10)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(acked) >= 100
    from kamtool.db.connect import open_database

    db = open_database(proxy_db)
    try:
        store = LocationStore(db_mode=1, database=db)
        store.load()
        saved = {b.contact for b in store.lookup("1001")}
    finally:
        db.close()
    missing = [c for c in acked if c not in saved]
    assert missing == []


def test_sigterm_flushes_write_back_contacts_and_exits_0(proxy_db, tmp_path):
    from tests.proxy.harness import UdpClient

    port = low_free_port()
    cfg = tmp_path / "kamtool.toml"
    cfg.write_text(
        f'[proxy]\nlisten = ["udp:127.0.0.1:{port}"]\nrpc_listen = ""\n'
        "db_mode = 2\ntimer_interval = 600\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kamtool", "--db", proxy_db, "serve", "--config", str(cfg),
         "--log-level", "info"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    client = UdpClient(port, timeout=0.5)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = client.register("1001", USERS["1001"], ["<sip:1001@127.0.0.1:6400>"])
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("proxy did not start: " + proc.stderr.read()[-2000:])
        assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "usrloc: flushed 1 contacts" in proc.stderr.read()
    from kamtool.db.connect import open_database

    db = open_database(proxy_db)
    try:
        store = LocationStore(db_mode=1, database=db)
        store.load()
        assert [b.contact for b in store.lookup("1001")] == ["sip:1001@127.0.0.1:6400"]
    finally:
        db.close()
