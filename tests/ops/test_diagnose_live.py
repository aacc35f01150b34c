"""`kamtool diagnose` against kamtool's proxy and a real Kamailio 5.6: each rule driven into
WARNING and CRITICAL by what happens to the server, exit statuses 0/1/2 asserted."""

from __future__ import annotations

import time

import pytest

from tests.ops.sipua import Uas, send_invite
from tests.support.cli import invoke
from tests.support.flood import Flooder
from tests.support.targets import running

SERVERS = ["kamtool", "kamailio"]


@pytest.fixture(params=SERVERS)
def target(request, tmp_path):
    with running(request.param, tmp_path, seed=False) as t:
        yield t


def diagnose(t, *args: str) -> tuple[int, dict[str, str], dict]:
    """Run ``kamtool diagnose ARGS`` against target ``t``: (exit status, rule -> level, doc)."""
    res = invoke("--db", t.server.db_url, "--rpc", t.server.rpc_http_url, "--json",
                 "diagnose", *args)  # fmt: skip
    doc = res.json()
    assert "checks" in doc, res.stdout + res.stderr
    return res.exit_code, {c["rule"]: c["level"] for c in doc["checks"]}, doc


def kt(t, *args: str) -> None:
    res = invoke("--db", t.server.db_url, "--rpc", t.server.rpc_http_url, *args)
    assert res.exit_code == 0, res.stdout + res.stderr


def test_an_idle_server_is_ok(target):
    code, levels, doc = diagnose(target)
    assert code == 0, doc
    assert set(levels) >= {"connection", "error rate", "dispatcher", "transactions", "dialogs",
                           "shared memory", "private memory", "database", "bans",
                           "auth failures"}  # fmt: skip
    assert set(levels.values()) == {"OK"}
    assert all(c["command"].startswith(("kamtool", "openssl")) for c in doc["checks"])


def _wait_state(t, uri: str, states: tuple[str, ...], limit: float = 45.0) -> None:
    """Until the dispatcher shows ``uri`` in one of ``states`` (pings every 10 s)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        rows = invoke("--rpc", t.server.rpc_http_url, "--json", "dispatcher", "list").json()
        if any(r["uri"] == uri and r["state"] in states for r in rows):
            return
        time.sleep(0.5)
    pytest.fail(f"{uri} never became {'/'.join(states)}")


@pytest.mark.slow
def test_dispatcher_destinations_killed(target):
    with Uas("options") as a, Uas("options") as b:
        for uas in (a, b):
            kt(target, "dispatcher", "add", "1", f"sip:127.0.0.1:{uas.port}", "--no-reload")
        kt(target, "dispatcher", "reload")  # one reload: a second within 5 s is refused
        code, levels, _ = diagnose(target, "sip")
        assert (code, levels["dispatcher"]) == (0, "OK")
        a.close()  # killed: its pings go unanswered
        _wait_state(target, f"sip:127.0.0.1:{a.port}", ("inactive", "trying"))
        code, levels, doc = diagnose(target, "sip")
        assert (code, levels["dispatcher"]) == (1, "WARNING"), doc
        b.close()
        _wait_state(target, f"sip:127.0.0.1:{b.port}", ("inactive",))
        _wait_state(target, f"sip:127.0.0.1:{a.port}", ("inactive",))
        code, levels, doc = diagnose(target, "sip")
        assert (code, levels["dispatcher"]) == (2, "CRITICAL"), doc
        assert "all 2 down" in next(c["reason"] for c in doc["checks"] if c["rule"] == "dispatcher")


def test_flood_banned_is_a_warning_two_are_critical(target):
    for n, source in enumerate(("127.0.0.41", "127.0.0.42"), 1):
        with Flooder(source, target.sip_port) as flood:
            assert flood.until_unanswered(600) is not None, "pike never banned the flood"
        code, levels, doc = diagnose(target, "security", "--threshold", "bans_critical=2")
        banned = next(c["reason"] for c in doc["checks"] if c["rule"] == "bans")
        assert source in banned
        assert (code, levels["bans"]) == ((1, "WARNING") if n == 1 else (2, "CRITICAL")), doc


@pytest.fixture
def kamtool_target(tmp_path):
    with running("kamtool", tmp_path, seed=False) as t:
        yield t


def test_authentication_failures(kamtool_target):
    # kamtool's proxy only: Kamailio 5.6's sl counters, read with stats.get_statistics
    # over HTTP, change from read to read (200_replies went 1, 12, 1 with 401s sent in
    # between, and the 401s of auth_challenge never showed): no test can drive them.
    target = kamtool_target
    with Flooder("127.0.0.51", target.sip_port, method="REGISTER") as reg:
        for _ in range(60):
            assert reg.one() == 401
    code, levels, doc = diagnose(target, "security")
    assert (code, levels["auth failures"]) == (2, "CRITICAL"), doc
    with Flooder("127.0.0.52", target.sip_port) as keepalive:  # 200 Keepalive
        for _ in range(10):
            assert keepalive.one() == 200
    code, levels, doc = diagnose(target, "security")
    # 60 of 70
    assert (code, levels["auth failures"]) == (1, "WARNING"), doc


def _trust_and_register(t, uas: Uas) -> str:
    t.seed_runtime_state()  # 127.0.0.1 in address group 1: INVITEs need no auth
    kt(t, "ul", "add", "1001", uas.uri, "--expires", "600")  # usrloc use_domain 0
    return f"sip:1001@127.0.0.1:{t.sip_port}"


def test_calls_in_memory(target):
    limits = ["--threshold", "transactions_warning=1", "--threshold", "transactions_critical=3",
              "--threshold", "dialogs_warning=1", "--threshold", "dialogs_critical=3"]  # fmt: skip
    with Uas("ring") as uas:
        ruri = _trust_and_register(target, uas)
        code, levels, _ = diagnose(target, "load", *limits)
        assert code == 0, levels
        assert send_invite(target.sip_port, ruri) in (100, 180)
        code, levels, doc = diagnose(target, "load", *limits)
        assert code == 1, doc
        assert levels == {"transactions": "WARNING", "dialogs": "WARNING"}
        for _ in range(2):
            assert send_invite(target.sip_port, ruri) in (100, 180)
        code, levels, doc = diagnose(target, "load", *limits)
        assert code == 2, doc
        assert levels == {"transactions": "CRITICAL", "dialogs": "CRITICAL"}


def test_error_replies(target):
    with Uas("fail") as uas:
        ruri = _trust_and_register(target, uas)
        for _ in range(20):
            assert send_invite(target.sip_port, ruri, wait_final=True) == 500
        code, levels, doc = diagnose(target, "sip")
        assert (code, levels["error rate"]) == (2, "CRITICAL"), doc
    with Flooder("127.0.0.61", target.sip_port) as keepalive:  # dilute with good traffic
        for _ in range(150):
            assert keepalive.one() == 200
    code, levels, doc = diagnose(target, "sip")
    assert (code, levels["error rate"]) == (1, "WARNING"), doc


def test_reload_due(target):
    code, levels, doc = diagnose(target, "db")
    assert (code, levels["reloads"]) == (0, "OK"), doc
    for port in (5071, 5072):  # nothing listens there: only the tables matter
        kt(target, "dispatcher", "add", "2", f"sip:127.0.0.1:{port}", "--no-reload")
    code, levels, doc = diagnose(target, "db")
    assert (code, levels["reloads"]) == (2, "CRITICAL"), doc  # the server holds no set
    kt(target, "dispatcher", "reload")
    code, levels, doc = diagnose(target, "db")
    assert (code, levels["reloads"]) == (0, "OK"), doc
    kt(target, "dispatcher", "add", "2", "sip:127.0.0.1:5073", "--no-reload")
    code, levels, doc = diagnose(target, "db")
    assert (code, levels["reloads"]) == (1, "WARNING"), doc
    reason = next(c["reason"] for c in doc["checks"] if c["rule"] == "reloads")
    assert "dispatcher (1 only in the database, 0 only in memory)" in reason


def test_memory_against_thresholds(target):
    code, levels, doc = diagnose(target, "memory")
    assert code == 0, doc
    shm = next(c["reason"] for c in doc["checks"] if c["rule"] == "shared memory")
    assert "MiB" in shm
    code, levels, doc = diagnose(target, "memory", "--threshold", "shm_warning=0")
    assert (code, levels["shared memory"]) == (1, "WARNING")
    code, levels, doc = diagnose(target, "memory", "--threshold", "shm_warning=0",
                                 "--threshold", "shm_critical=0")  # fmt: skip
    assert (code, levels["shared memory"]) == (2, "CRITICAL")
    if target.name == "kamailio":  # pkg.stats: Kamailio only
        code, levels, doc = diagnose(target, "memory", "--threshold", "pkg_warning=0.01")
        assert (code, levels["private memory"]) == (1, "WARNING"), doc


def test_no_server_is_critical(tmp_path):
    from tests.support.ports import free_port

    res = invoke("--rpc", f"http://127.0.0.1:{free_port()}/RPC", "--json", "diagnose", "sip")
    assert res.exit_code == 2
    assert res.json()["checks"][0]["rule"] == "connection"
    assert res.json()["status"] == "CRITICAL"
