"""REGISTER with digest auth against the running proxy, with sipsak and SIPp as clients."""

from __future__ import annotations

import subprocess

import pytest

from tests.proxy.conftest import USERS, need
from tests.proxy.harness import explain, low_free_port, register, sipp

pytestmark = pytest.mark.sipp


def sipsak(*args: str) -> subprocess.CompletedProcess:
    need("sipsak")
    return subprocess.run(["sipsak", *args], capture_output=True, text=True, timeout=20)


def sipsak_register(proxy, local: int, password: str, *args: str) -> subprocess.CompletedProcess:
    """sipsak registers 1001 with the contact port ``local`` and ``password``."""
    return sipsak(
        "-U", "-C", f"sip:1001@127.0.0.1:{local}", "-s", f"sip:1001@127.0.0.1:{proxy.port}",
        "-a", password, *args,
    )  # fmt: skip


def test_options_to_the_proxy_is_answered_keepalive(proxy):
    res = sipsak("-s", f"sip:127.0.0.1:{proxy.port}", "-vv")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SIP/2.0 200 Keepalive" in res.stdout
    assert proxy.stat("sl:200_replies") == 1


def test_sipsak_register_with_digest_saves_the_location_row(proxy):
    local = low_free_port()
    res = sipsak_register(proxy, local, USERS["1001"], "-vv")
    assert res.returncode == 0, res.stdout + res.stderr
    bindings = proxy.call(lambda: proxy.server.usrloc.lookup("1001"))
    assert [b.contact for b in bindings] == [f"sip:1001@127.0.0.1:{local}"]
    # the row as Kamailio writes it (db_mode 1: written before the 200)
    import sqlite3

    path = proxy.config.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT ruid, username, domain, contact, typeof(expires), q, socket, methods,"
            " connection_id, typeof(last_modified), user_agent FROM location"
        ).fetchone()
    assert row[0].startswith("uloc-")
    assert row[1:4] == ("1001", None, f"sip:1001@127.0.0.1:{local}")
    assert row[4] == "real" and row[9] == "real"  # Julian days
    assert row[5] == -1.0 and row[6] == f"udp:127.0.0.1:{proxy.port}" and row[7] is None
    assert row[8] == -1 and row[10].startswith("sipsak")
    assert proxy.stat("registrar:accepted_regs") >= 1


def test_sipsak_register_with_wrong_password_fails(proxy):
    local = low_free_port()
    res = sipsak_register(proxy, local, "wrong")
    assert res.returncode != 0
    assert proxy.call(lambda: proxy.server.usrloc.lookup("1001")) == []


def test_sipp_register_then_unregister(proxy):
    need("sipp")
    register(proxy.port, "1002")
    bindings = proxy.call(lambda: proxy.server.usrloc.lookup("1002"))
    assert len(bindings) == 1 and bindings[0].user_agent == "kamtool-test-sipp"
    local = int(bindings[0].contact.split(":")[2].split(";")[0])
    register(proxy.port, "1002", local, expires=0)
    assert proxy.call(lambda: proxy.server.usrloc.lookup("1002")) == []


def test_sipp_wrong_password_is_challenged_again(proxy):
    need("sipp")
    res = sipp("register_wrong_password.xml", proxy.port, service="1001", auth=("1001", "nope"))
    assert res.returncode == 0, explain(res)
    assert proxy.stat("registrar:rejected_regs") == 0  # Kamailio counts failed saves only
    assert proxy.stat("sl:401_replies") == 2


def test_sipp_auth_user_other_than_from_user_is_forbidden(proxy):
    need("sipp")
    res = sipp("register_forbidden.xml", proxy.port, service="1001", auth=("1002", USERS["1002"]))
    assert res.returncode == 0, explain(res)
    assert proxy.stat("sl:403_replies") == 1
    assert proxy.call(lambda: proxy.server.usrloc.aors()) == []


def test_ul_rpc_methods_work_on_the_live_location_store(start_proxy, tmp_path):
    import httpx

    from tests.proxy.harness import UdpClient
    from tests.support.ports import free_port

    rpc_port = free_port()
    proxy = start_proxy(rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"))

    def rpc(method, *params):
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
        return httpx.post(f"http://127.0.0.1:{rpc_port}/RPC", json=body, timeout=10).json()

    c = UdpClient(proxy.port)
    try:
        assert c.register("1001", USERS["1001"], ["<sip:1001@127.0.0.1:6500>;q=0.5"]).status == 200
    finally:
        c.close()
    found = rpc("ul.lookup", "location", "1001")["result"]
    (contact,) = found["Contacts"]
    assert contact["Contact"]["Address"] == "sip:1001@127.0.0.1:6500"
    assert contact["Contact"]["Q"] == 0.5 and contact["Contact"]["Socket"].startswith("udp:")
    assert rpc("ul.add", "location", "1004", "sip:1004@127.0.0.1:6501", 60, 0.8, "", 0, 0,
               4294967295)["result"] == {}  # fmt: skip
    assert proxy.call(lambda: [b.ruid[:5] for b in proxy.server.usrloc.lookup("1004")]) == ["ulcx-"]
    assert rpc("ul.rm_contact", "location", "1001", "sip:1001@127.0.0.1:6500")["result"] == {}
    assert proxy.call(lambda: proxy.server.usrloc.lookup("1001")) == []
    assert rpc("ul.flush")["result"] == {}
    stats = rpc("stats.get_statistics", "usrloc:")["result"]
    assert "usrloc:registered_users = 1" in stats


@pytest.mark.parametrize("q", ["1.5", "inf", "nan", "-1", "abc", "0.1234"])
def test_a_contact_q_outside_rfc_3261_is_refused(proxy, q):
    """q is 0 to 1 with three decimals at most (RFC 3261 25.1): 1.5 or inf ranked the
    contact above every other and came back as ";q=inf"; 400, as Kamailio, nothing saved."""
    from tests.proxy.harness import UdpClient

    ua = UdpClient(proxy.port)
    try:
        reply = ua.register("1001", USERS["1001"], [f"<sip:1001@127.0.0.1:{ua.port}>;q={q}"])
        assert reply.status == 400, reply.status
        good = ua.register("1001", USERS["1001"], [f"<sip:1001@127.0.0.1:{ua.port}>;q=0.5"])
        assert good.status == 200 and ";q=0.5;" in good.headers.get("contact")
    finally:
        ua.close()
    assert proxy.call(lambda: [b.q for b in proxy.server.usrloc.lookup("1001")]) == [0.5]
