"""``kamtool srv|shm|pkg|tcp|tls|pipelimit|shv`` against a real Kamailio 5.6 (reference cfg
plus tls, pipelimit, a $shv and an alias: conftest.py) and against kamtool's own proxy,
which answers what it has and says clearly what it has not."""

from __future__ import annotations

import socket
import ssl

import pytest

from tests.server.conftest import ALIAS, PIPE, SHV
from tests.support.cli import invoke


def kt(url: str, *args: str):
    r = invoke("--json", "--rpc", url, *args)
    try:
        doc = r.json()
    except ValueError:
        doc = None
    return r.exit_code, doc


@pytest.fixture(scope="module")
def kam(kamailio_plus):
    return kamailio_plus[0]


@pytest.mark.kamailio
def test_srv_sockets_and_aliases_of_kamailio(kamailio_plus):
    k, _, tls_port = kamailio_plus
    code, rows = kt(k.rpc_http_url, "srv", "sockets")
    assert code == 0
    found = {(r["proto"], r["port"]) for r in rows}
    assert {("udp", k.sip_port), ("tcp", k.sip_port), ("tls", tls_port)} <= found
    code, rows = kt(k.rpc_http_url, "srv", "aliases")
    assert code == 0 and ALIAS in {r["address"] for r in rows}


@pytest.mark.kamailio
def test_srv_modules_rpclist_rpchelp(kam):
    code, mods = kt(kam.rpc_http_url, "srv", "modules")
    assert code == 0 and {"tls", "pipelimit", "tm", "pv"} <= set(mods)
    code, methods = kt(kam.rpc_http_url, "srv", "rpclist")
    assert code == 0 and {"core.psx", "tls.list", "pl.get_pipes"} <= set(methods)
    code, doc = kt(kam.rpc_http_url, "srv", "rpchelp", "core.psx")
    assert code == 0 and "process" in doc["help"]
    code, doc = kt(kam.rpc_http_url, "srv", "rpchelp", "no.such_method")
    assert code == 3 and doc["error"]["code"] == "not_found"


@pytest.mark.kamailio
def test_srv_info_and_runinfo(kam):
    code, info = kt(kam.rpc_http_url, "srv", "info")
    assert code == 0 and info["version"].startswith("kamailio 5.6")
    code, run = kt(kam.rpc_http_url, "srv", "runinfo")
    assert code == 0 and run["name"] == "kamailio" and run["uptime_secs"] >= 0


@pytest.mark.kamailio
def test_memory_views_of_kamailio(kam):
    code, shm = kt(kam.rpc_http_url, "shm", "stats")
    assert code == 0 and shm["total"] == kam.shm_mb * 1024 * 1024
    assert 0 < shm["used_percent"] < 100
    code, rows = kt(kam.rpc_http_url, "pkg", "stats")
    assert code == 0 and len(rows) > 5
    assert all(r["total"] == kam.pkg_mb * 1024 * 1024 for r in rows)
    pid = rows[0]["pid"]
    code, one = kt(kam.rpc_http_url, "pkg", "stats", "--pid", str(pid))
    assert code == 0 and [r["pid"] for r in one] == [pid]
    code, doc = kt(kam.rpc_http_url, "pkg", "stats", "--pid", "1")
    assert code == 3 and "pid 1" in doc["error"]["message"]


@pytest.mark.kamailio
def test_tcp_views_of_kamailio(kam):
    code, opts = kt(kam.rpc_http_url, "tcp", "options")
    assert code == 0 and opts["connection_lifetime"] == 3605
    code, info = kt(kam.rpc_http_url, "tcp", "info")
    assert code == 0 and info["max_connections"] == 256
    # the JSON-RPC call itself comes over a TCP connection to the HTTP port
    code, conns = kt(kam.rpc_http_url, "tcp", "list")
    assert code == 0 and kam.http_port in {c["dst_port"] for c in conns}


@pytest.mark.kamailio
def test_tls_views_with_a_verified_client(kamailio_plus):
    """A client verifying against kamtool's CA connects; tls info and list show it."""
    k, pki, tls_port = kamailio_plus
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:  # fmt: skip
        assert tls.getpeercert()["subject"] == ((("commonName", "127.0.0.1"),),)
        tls.sendall(b"\r\n\r\n")  # a keepalive: the connection is now known to Kamailio
        code, info = kt(k.rpc_http_url, "tls", "info")
        assert code == 0 and info["opened_connections"] >= 1
        code, conns = kt(k.rpc_http_url, "tls", "list")
        assert code == 0 and len(conns) >= 1
    code, doc = kt(k.rpc_http_url, "tls", "reload")
    assert code == 0 and doc["ok"] is True


@pytest.mark.kamailio
def test_pipelimit_list_stats_set(kam):
    name, alg, limit = PIPE
    code, pipes = kt(kam.rpc_http_url, "pipelimit", "list")
    assert code == 0
    assert [(p["name"], p["algorithm"], p["limit"]) for p in pipes] == [(name, alg, limit)]
    code, stats = kt(kam.rpc_http_url, "pipelimit", "stats")
    assert code == 0 and stats[0]["name"] == name and "load" in stats[0]
    code, _ = kt(kam.rpc_http_url, "pipelimit", "set", name, "red", "40")
    assert code == 0
    code, pipes = kt(kam.rpc_http_url, "pipelimit", "list")
    assert (pipes[0]["algorithm"], pipes[0]["limit"]) == ("RED", 40)
    code, doc = kt(kam.rpc_http_url, "pipelimit", "set", name, "fastest", "40")
    assert code == 2 and "TAILDROP" in doc["error"]["message"]


@pytest.mark.kamailio
def test_shv_get_and_set_on_kamailio(kam):
    name, value = SHV
    code, rows = kt(kam.rpc_http_url, "shv", "get", name)
    assert code == 0 and rows == [{"name": name, "type": "int", "value": value}]
    assert kt(kam.rpc_http_url, "shv", "set", name, "42")[0] == 0
    assert kt(kam.rpc_http_url, "shv", "get", name)[1][0]["value"] == 42
    assert kt(kam.rpc_http_url, "shv", "set", name, "--str", "many")[0] == 0
    assert kt(kam.rpc_http_url, "shv", "get", name)[1][0] == {
        "name": name,
        "type": "string",
        "value": "many",
    }
    code, doc = kt(kam.rpc_http_url, "shv", "set", "undeclared", "1")
    assert code == 3 and "shvset" in doc["error"]["hint"]


# --------------------------------------------------------------------------- kamtool serve


def test_proxy_answers_the_views_it_has(proxy):
    url = proxy.rpc_http_url
    code, rows = kt(url, "srv", "sockets")
    assert code == 0 and {("udp", proxy.sip_port), ("tcp", proxy.sip_port)} <= {
        (r["proto"], r["port"]) for r in rows
    }
    assert kt(url, "srv", "aliases") == (0, [])
    code, methods = kt(url, "srv", "rpclist")
    assert code == 0 and {"pkg.stats", "pv.shvGet", "core.aliases_list"} <= set(methods)
    code, run = kt(url, "srv", "runinfo")
    assert code == 0 and run["name"] == "kamtool"
    code, rows = kt(url, "pkg", "stats")
    assert code == 0 and len(rows) == 1 and rows[0]["real_used"] > 0
    code, shm = kt(url, "shm", "stats")
    assert code == 0 and shm["real_used"] > 0
    code, info = kt(url, "tcp", "info")
    assert code == 0 and "opened_connections" in info


def test_proxy_shv_set_then_get(proxy):
    url = proxy.rpc_http_url
    assert kt(url, "shv", "get", "gw_state")[0] == 3
    assert kt(url, "shv", "set", "gw_state", "2")[0] == 0
    assert kt(url, "shv", "set", "gw_name", "edge")[0] == 0
    code, rows = kt(url, "shv", "get")
    assert code == 0 and rows == [
        {"name": "gw_name", "type": "string", "value": "edge"},
        {"name": "gw_state", "type": "int", "value": 2},
    ]


def test_proxy_says_what_it_has_not(proxy):
    """No pipelimit or tls module in kamtool's proxy: the RPC error, exit 7."""
    for args in (("pipelimit", "list"), ("tls", "list"), ("tcp", "options")):
        code, doc = kt(proxy.rpc_http_url, *args)
        assert code == 7 and "not found" in doc["error"]["message"].lower(), args
