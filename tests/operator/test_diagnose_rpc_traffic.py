"""`kamtool diagnose` on a server with no SIP traffic but busy JSON-RPC: Kamailio counts
each JSON-RPC request over HTTP in ``core:rcv_requests`` and each error answer (``500
Method Not Found``, dispatcher.list's ``500 No Destination Sets`` ...) in ``sl:500_replies``,
so an idle Kamailio that a monitor or script polled showed a CRITICAL SIP "error rate"
(30 failing RPC calls: "90.9% errors (30 of 33 messages)")."""

from __future__ import annotations

from tests.support.cli import invoke


def test_rpc_errors_are_not_sip_errors(target):
    url = target.url("http")
    for _ in range(30):
        assert invoke("--rpc", url, "rpc", "nosuch.method").exit_code == 7
    r = invoke("--json", "--db", "sqlite:///" + str(target.db_file), "--rpc", url,
               "diagnose", "sip")  # fmt: skip
    checks = {c["rule"]: c for c in r.json()["checks"]}
    assert checks["error rate"]["level"] == "OK", checks["error rate"]


def test_rpc_answers_do_not_hide_password_guessing(target):
    """Kamailio counts the 200s of its JSON-RPC-over-HTTP answers in ``sl:200_replies``:
    a server polled by a monitor showed 25 refused REGISTERs among 100+ "successful
    replies", an OK auth-failure ratio while every SIP request failed."""
    from tests.support.flood import Flooder

    with Flooder("127.0.0.71", target.sip_port, method="REGISTER") as reg:
        for _ in range(25):
            assert reg.one() == 401
    url = target.url("http")
    for _ in range(100):
        assert invoke("--rpc", url, "version").exit_code == 0
    r = invoke("--json", "--db", "sqlite:///" + str(target.db_file), "--rpc", url,
               "diagnose", "security")  # fmt: skip
    checks = {c["rule"]: c for c in r.json()["checks"]}
    assert checks["auth failures"]["level"] == "CRITICAL", checks["auth failures"]
