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
    """No pipelimit in kamtool's proxy, and no tls.* without a tls: listener (as Kamailio
    without its tls module): the RPC error, exit 7."""
    for args in (("pipelimit", "list"), ("tls", "list"), ("tls", "info")):
        code, doc = kt(proxy.rpc_http_url, *args)
        assert code == 7 and "not found" in doc["error"]["message"].lower(), args


def _open_tls(port: int, ca) -> ssl.SSLSocket:
    """A verified TLS connection that has sent a keepalive (so both servers know it)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                           server_hostname="127.0.0.1")  # fmt: skip
    conn.sendall(b"\r\n\r\n")
    return conn


def _wait_for(server, method: str, want):
    """``method``'s answer once ``want(answer)`` holds (the servers see a connection a
    moment after the client)."""
    import time

    for _ in range(50):
        doc = server.rpc(method)
        if want(doc):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"{method}: {doc}")


@pytest.mark.kamailio
def test_proxy_tcp_and_tls_views_have_kamailios_shapes(kamailio_plus, tmp_path):
    """core.tcp_list, core.tcp_options, tls.list, tls.info and tls.options of kamtool's
    proxy (with a tls: listener) against Kamailio 5.6's answers with the same kind of
    connections open: the same keys and JSON types (the options: a subset of Kamailio's
    keys, those kamtool has), and the connections themselves in them."""
    from tests.server.conftest import make_pki
    from tests.support.kamtool_proxy import KamtoolProxy
    from tests.support.ports import free_port
    from tests.support.reference import shape_differences

    k, kpki, k_tls = kamailio_plus
    pki = make_pki(tmp_path / "pki")
    tls_port = free_port()
    args = ("--listen", f"tls:127.0.0.1:{tls_port}", "--tls-certificate", str(pki.cert),
            "--tls-private-key", str(pki.key))  # fmt: skip
    with KamtoolProxy(tmp_path / "p", seed=False, extra_args=args) as p, \
            _open_tls(k_tls, kpki.ca), _open_tls(tls_port, pki.ca) as p_conn, \
            socket.create_connection(("127.0.0.1", p.sip_port)) as silent:  # fmt: skip
        local = p_conn.getsockname()[1]

        def seen(doc):  # our TLS connection with its keepalive read, and the silent one
            ports = {c["src_port"] for c in doc}
            read = any(c["src_port"] == local and c["state"] != "CONN_ACCEPT" for c in doc)
            return read and silent.getsockname()[1] in ports

        ours, theirs = {}, {}
        for method in ("core.tcp_list", "tls.list"):
            theirs[method] = _wait_for(k, method, lambda d: len(d) >= 1)
            ours[method] = _wait_for(p, method, seen if method == "core.tcp_list" else bool)
        for method in ("tls.info", "tls.options", "core.tcp_options"):
            theirs[method], ours[method] = k.rpc(method), p.rpc(method)
        for method in ("core.tcp_list", "tls.list", "tls.info"):
            assert shape_differences(theirs[method], ours[method]) == [], method
        for method in ("tls.options", "core.tcp_options"):
            kept = {key: theirs[method][key] for key in ours[method]}
            assert shape_differences(kept, ours[method]) == [], method
            assert len(ours[method]) >= 5
        tcp = {c["src_port"]: c for c in ours["core.tcp_list"]}
        mine = tcp[local]
        assert (mine["type"], mine["state"], mine["dst_port"]) == ("TLS", "CONN_OK", tls_port)
        assert 0 < mine["timeout"] <= mine["lifetime"] == 3605
        quiet = tcp[silent.getsockname()[1]]  # nothing sent yet: accepted, as Kamailio says
        assert (quiet["type"], quiet["state"], quiet["dst_port"]) == ("TCP", "CONN_ACCEPT",
                                                                      p.sip_port)  # fmt: skip
        assert quiet["id"] != mine["id"] and quiet["timeout"] <= 20  # tcp_msg_data_timeout
        (tls_conn,) = ours["tls.list"]
        assert tls_conn["id"] == mine["id"] and tls_conn["state"] == "established"
        assert tls_conn["cipher"].split()[0] == p_conn.cipher()[0]
        assert ours["tls.info"]["opened_connections"] == 1
        assert ours["tls.options"]["certificate"] == str(pki.cert)


def test_proxy_memory_total_is_its_address_space_limit(tmp_path):
    """Under ``ulimit -v`` (prlimit --as) core.shmmem's total and shmem:total_size are that
    limit, not the machine's memory (a Python process has no shm pool: the ceiling is)."""
    import shutil

    from tests.support.kamtool_proxy import KamtoolProxy
    from tests.support.require import unavailable

    if not shutil.which("prlimit"):
        unavailable("prlimit is not installed (util-linux)")
    limit = 3 << 30
    with KamtoolProxy(tmp_path, seed=False, wrapper=("prlimit", f"--as={limit}", "--")) as p:
        shm = p.rpc("core.shmmem")
        assert shm["total"] == limit and 0 < shm["real_used"] < limit
        assert p.rpc("stats.fetch", "shmem:total_size") == {"shmem.total_size": str(limit)}
