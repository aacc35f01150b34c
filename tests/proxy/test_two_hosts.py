"""Two kamtool hosts (issue #17 item 5): each ``kamtool serve`` runs in a network namespace
of its own, both on a bridge, sharing one PostgreSQL (the machine's, through a relay on
the bridge) and one Redis (our own, on the bridge). A phone registered through host A is
called through host B; A is killed with SIGKILL and the phone is still reached through B,
and through a B started anew, which can only have learnt it from Redis: the contact was
never written to PostgreSQL (db_mode 2 writes back every 60 s here, and A died first)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kamtool.db import schema
from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from tests.proxy.conftest import USERS, need
from tests.proxy.harness import (
    add_subscriber,
    call,
    caller_args,
    explain,
    register,
    sipp_args,
    sipp_background,
    wait_for,
)
from tests.proxy.test_call_limits import refused_scenario
from tests.support.databases import database
from tests.support.dbrelay import DbRelay
from tests.support.kamtool_proxy import isolated_env
from tests.support.netns import Hosts
from tests.support.ports import free_port
from tests.support.require import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.sipp]

ROOT = Path(__file__).resolve().parents[2]
SIP_PORT = 5060


def _options_answered(ip: str, source: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        port = s.getsockname()[1]
        msg = (
            f"OPTIONS sip:{ip}:{SIP_PORT} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {source}:{port};branch=z9hG4bK-ping{port}\r\n"
            f"From: <sip:ping@{source}>;tag=p\r\nTo: <sip:{ip}>\r\nCall-ID: ping{port}@x\r\n"
            "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        s.settimeout(0.3)
        s.sendto(msg, (ip, SIP_PORT))
        try:
            return s.recv(65535).startswith(b"SIP/2.0 200")
        except OSError:
            return False


class Host:
    """``kamtool serve`` in namespace ``i`` of ``net``."""

    def __init__(self, net: Hosts, i: int, base: Path, db_url: str, redis_url: str) -> None:
        self.net, self.i, self.ip = net, i, net.ips[i]
        self.base = base
        self.config = base / f"host{i}.toml"
        self.config.write_text(
            f'[db]\nurl = "{db_url}"\n[proxy]\nlisten = ["udp:{self.ip}:{SIP_PORT}"]\n'
            f'rpc_listen = ""\nstate = "{redis_url}"\nstate_prefix = "twohosts"\n'
            "db_mode = 2\ntimer_interval = 60\nmax_calls_per_caller = 1\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / f"host{i}.log"

    def start(self) -> Host:
        env = isolated_env(self.base / f"home{self.i}")
        env["PYTHONPATH"] = str(ROOT)
        cmd = [*self.net.exec(self.i), sys.executable, "-m", "kamtool", "--config",
               str(self.config), "serve", "--log-level", "info"]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        up = wait_for(lambda: _options_answered(self.ip, self.net.gateway), timeout=30)
        assert up, f"host {self.i} did not start:\n{self.log.read_text()[-3000:]}"
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _redis_server(ip: str, port: int, base: Path) -> subprocess.Popen[bytes]:
    exe = shutil.which("redis-server")
    if exe is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    return subprocess.Popen(
        [
            exe,
            "--bind",
            ip,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--dir",
            str(base),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _redis_dump(url: str) -> str:
    """The keys of the shared state, for a failure's message."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys = sorted(client.scan_iter(match="twohosts:*"))

        def show(k: str) -> str:
            kind = client.type(k)
            value = client.hgetall(k) if kind == "hash" and ":loc:" not in k else ""
            return f"{k} ({kind}, ttl {client.ttl(k)}) {value}"

        return "\nRedis: " + ", ".join(show(k) for k in keys)
    finally:
        client.close()


def _counted(url: str, field: str) -> int:
    """A profile count summed over the nodes, as Redis holds them."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys = list(client.scan_iter(match="twohosts:prof:*"))
        return sum(int(client.hget(k, field) or 0) for k in keys)
    finally:
        client.close()


def _location_rows(url: str) -> int:
    db = open_database(url)
    try:
        return db.execute_sql("SELECT COUNT(*) FROM location").fetchone()[0]
    finally:
        db.close()


def _answering_phone(port: int, ip: str, proxy: str) -> subprocess.Popen[str]:
    """1002's phone: a SIPp UAS on ``ip:port`` that answers every call for two minutes."""
    args = sipp_args("uas_answer.xml", SIP_PORT, port, proxy_host=proxy, local_ip=ip,
                     timeout=120)  # fmt: skip
    args[args.index("-m") + 1] = "1000"
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd="/tmp")  # fmt: skip


def test_registered_through_a_called_through_b_after_a_is_killed(tmp_path):
    """Also the call limits across hosts: 1001 may have one call; while one is up through
    A, B refuses 1001's next (403); A killed, its count expires and B lets 1001 call."""
    need("sipp")
    with Hosts(2) as net, database("postgres", tmp_path) as url:
        db = open_database(url)
        create_tables(db, schema.GROUP_NAMES)
        for ip in net.ips:  # both hosts' addresses are the domain (digest realm: From host)
            db.execute_sql("INSERT INTO domain (domain) VALUES (%s)", (ip,))
        db.close()
        for ip in net.ips:
            for user in ("1001", "1002", "1003"):
                add_subscriber(url, user, USERS[user], domain=ip)
        relay = DbRelay("127.0.0.1", 5432, listen_host=net.gateway)
        host_url = url.replace("127.0.0.1:5432", f"{net.gateway}:{relay.port}")
        redis_port = free_port()
        redis = _redis_server(net.gateway, redis_port, tmp_path)
        redis_url = f"redis://{net.gateway}:{redis_port}/0"
        hosts: list[Host] = []
        peers: list[subprocess.Popen[str]] = []
        try:
            a = Host(net, 0, tmp_path, host_url, redis_url).start()
            b = Host(net, 1, tmp_path, host_url, redis_url).start()
            hosts += [a, b]
            phone = free_port(net.gateway)
            sip = {"local_ip": net.gateway}
            register(SIP_PORT, "1002", phone, proxy_host=a.ip, **sip)
            peers.append(_answering_phone(phone, net.gateway, a.ip))

            def call_through_b(caller: str = "1003", scenario: str = "uac_call.xml") -> Any:
                return call(SIP_PORT, scenario, caller=caller, proxy_host=b.ip, **sip)

            res = call_through_b()
            assert res.returncode == 0, explain(res) + b.log.read_text()[-3000:]
            # 1001's one call, held up through A, counts on B
            peers.append(sipp_background("uac_wait_bye.xml", SIP_PORT, free_port(net.gateway),
                                         proxy_host=a.ip, **sip, **caller_args()))  # fmt: skip
            # (wait until A's count is in Redis: a call B let through would stay up)
            assert wait_for(lambda: _counted(redis_url, "caller\t1001") == 1, 30)
            res = call_through_b("1001", refused_scenario(tmp_path, 403))
            assert res.returncode == 0, explain(res) + b.log.read_text()[-3000:]
            assert a.proc is not None
            a.proc.kill()  # SIGKILL: no flush, no goodbye
            assert a.proc.wait(10) == -9
            res = call_through_b()
            assert res.returncode == 0, explain(res) + b.log.read_text()[-3000:]
            # A's dialog count dies with A (its key expires, B's next beat drops it)
            last: list[Any] = []
            ok = wait_for(lambda: (last.append(r := call_through_b("1001")), r.returncode)[1] == 0,
                          60)  # fmt: skip
            assert ok, explain(last[-1]) + _redis_dump(redis_url) + b.log.read_text()[-6000:]
            b.stop()  # a new B knows the phone from Redis alone
            hosts.append(b := Host(net, 1, tmp_path, host_url, redis_url).start())
            assert _location_rows(url) == 0
            res = call_through_b()
            assert res.returncode == 0, explain(res) + b.log.read_text()[-3000:]
        finally:
            for h in hosts:
                h.stop()
            for p in peers:
                p.kill()
                p.communicate(timeout=10)
            redis.kill()
            redis.wait(10)
            relay.close()
