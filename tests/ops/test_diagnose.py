"""`kamtool diagnose` on the database (made slow or stalled through a relay), on TLS
certificates, and the rules' thresholds."""

from __future__ import annotations

import datetime as dt

import pytest

from kamtool.core.health import (
    CRITICAL,
    OK,
    WARNING,
    Thresholds,
    check_auth_failures,
    check_bans,
    check_dialogs,
    check_private_memory,
)
from kamtool.errors import ConfigError
from tests.support.cli import invoke
from tests.support.databases import database
from tests.support.dbrelay import DbRelay


def _db(url: str, *args: str) -> tuple[int, str, str]:
    res = invoke("--db", url, "--json", "diagnose", "db", *args)
    check = res.json()["checks"][0]
    assert check["rule"] == "database"
    return res.exit_code, check["level"], check["reason"]


def test_sqlite_database_ok_and_missing(tmp_path):
    url = "sqlite:///" + str(tmp_path / "k.sqlite")
    assert _db(url)[:2] == (2, CRITICAL)  # no file: not created by diagnose
    assert not (tmp_path / "k.sqlite").exists()
    invoke("--db", url, "domain", "add", "a.example", "--no-reload")
    code, level, reason = _db(url)
    assert (code, level) == (0, OK)
    assert "answered in" in reason


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_server_database_slow_then_stalled(engine, tmp_path, request):
    request.applymarker(getattr(pytest.mark, engine))
    with database(engine, tmp_path) as url:
        assert invoke("--db", url, "dbctl", "create", "-g", "standard").exit_code == 0
        relay, relayed = DbRelay.for_url(url)
        with relay:
            assert _db(relayed)[:2] == (0, OK)
            relay.slow(0.1)  # several round trips per connect + query: >= 0.25 s
            code, level, reason = _db(relayed)
            assert (code, level) == (1, WARNING), reason
            relay.restore()
            relay.stall()
            code, level, reason = _db(relayed, "--threshold", "db_latency_critical=1.5")
            assert (code, level) == (2, CRITICAL)
            assert "no answer in 1.5 s" in reason
            relay.restore()
            assert _db(relayed)[:2] == (0, OK)


def _certificate(path, days: float) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sip.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_tls_certificate_expiry(tmp_path):
    from tests.support.ports import free_port

    rpc = f"http://127.0.0.1:{free_port()}/RPC"  # no server: only the certificate matters
    cases = [(200, OK), (20, WARNING), (3, CRITICAL), (-2, CRITICAL)]
    for days, level in cases:
        cert = _certificate(tmp_path / f"c{days}.pem", days)
        res = invoke("--rpc", rpc, "--json", "diagnose", "security", "--cert", cert)
        checks = [c for c in res.json()["checks"] if c["rule"] == "tls certificate"]
        assert [c["level"] for c in checks] == [level], checks
        assert res.exit_code == {OK: 0, WARNING: 1, CRITICAL: 2}[level]
    # the certificate of [proxy] tls_certificate when no --cert is given
    cfg = tmp_path / "kamtool.toml"
    cfg.write_text(f'[proxy]\ntls_certificate = "{tmp_path / "c20.pem"}"\n')
    res = invoke("--config", str(cfg), "--rpc", rpc, "--json", "diagnose", "security")
    assert [c["level"] for c in res.json()["checks"] if c["rule"] == "tls certificate"] == [WARNING]
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    res = invoke("--rpc", rpc, "--json", "diagnose", "security", "--cert", str(bad))
    assert res.exit_code == 2


def test_thresholds_from_config_and_flags(tmp_path):
    cfg = tmp_path / "kamtool.toml"
    cfg.write_text("[monitor]\ndb_latency_warning = 0.0\n")
    url = "sqlite:///" + str(tmp_path / "k.sqlite")
    invoke("--db", url, "domain", "add", "a.example", "--no-reload")
    res = invoke("--config", str(cfg), "--db", url, "--json", "diagnose", "db")
    assert res.exit_code == 1  # any answer time is now a warning
    res = invoke("--config", str(cfg), "--db", url, "--json", "diagnose", "db",
                 "--threshold", "db_latency_warning=1")  # fmt: skip
    assert res.exit_code == 0  # the flag wins
    # what keeps it from judging is UNKNOWN (3) for a monitoring system, not CRITICAL (2)
    res = invoke("--db", url, "diagnose", "db", "--threshold", "nope=1")
    assert res.exit_code == 3 and res.stdout.startswith("UNKNOWN: "), res.stdout
    assert invoke("--db", url, "diagnose", "nowhere").exit_code == 3
    cfg.write_text("[monitor]\nbans_warning = 5\nbans_critical = 2\n")
    res = invoke("--config", str(cfg), "--db", url, "--json", "diagnose", "db")
    assert res.exit_code == 3 and res.json()["status"] == "UNKNOWN"


def test_brief_prints_only_problems(tmp_path):
    url = "sqlite:///" + str(tmp_path / "k.sqlite")
    invoke("--db", url, "domain", "add", "a.example", "--no-reload")
    from tests.support.ports import free_port

    res = invoke("--db", url, "--rpc", f"http://127.0.0.1:{free_port()}/RPC", "diagnose", "brief")
    assert res.exit_code == 2
    lines = res.stdout.splitlines()
    # a Nagios/Icinga check reads the first line: the status and what is wrong
    assert lines[0].startswith("CRITICAL: connection (sip): ")
    assert lines[1].split("\t")[:3] == ["LEVEL", "AREA", "RULE"]
    assert [line.split("\t")[2] for line in lines[2:]] == ["connection"]  # db is OK: not shown
    ok = invoke("--db", url, "diagnose", "db")
    assert ok.exit_code == 0 and ok.stdout.splitlines()[0] == "OK: 3 checks on db", ok.stdout


def test_rules():
    limits = Thresholds()
    assert check_dialogs({}, {"all": 1500, "ongoing": 3}, limits).level == WARNING
    assert check_dialogs({"dialog:active_dialogs": 10001}, None, limits).level == CRITICAL
    assert check_bans([], None, limits).level == OK
    assert check_bans(["127.0.0.9"], None, limits).level == WARNING
    assert check_bans(None, 12, limits).level == CRITICAL
    rows = [{"pid": 1, "real_used": 10, "total_size": 100, "desc": "main"},
            {"pid": 2, "real_used": 85, "total_size": 100, "desc": "udp"}]  # fmt: skip
    check = check_private_memory(rows, limits)
    assert (check.level, "pid 2" in check.reason) == (WARNING, True)
    stats = {"sl:401_replies": 50, "sl:200_replies": 50}
    assert check_auth_failures(stats, None, limits).level == OK  # one challenge per success
    baseline = {"sl:401_replies": 40, "sl:200_replies": 50}
    assert check_auth_failures(stats, baseline, limits).level == OK  # 10 replies: too few
    with pytest.raises(ConfigError):
        Thresholds().with_values({"tls_days_warning": 3, "tls_days_critical": 7})
    with pytest.raises(ConfigError):
        Thresholds().with_values({"pkg_warning": "120%"})


def test_json_rpc_answers_are_not_sip_replies():
    """A Kamailio polled over JSON-RPC: 40 HTTP requests (core:rcv_requests beyond the
    per-method counters) had one sl answer each, 500s first (the counters cannot tell an
    RPC 500 from a SIP one): those leave the SIP totals, the rest stays."""
    from kamtool.core.health import check_error_rate, reply_class_total, rpc_answers

    stats = {
        "core:rcv_requests": 60, "core:rcv_requests_register": 20,
        "sl:200_replies": 36, "sl:401_replies": 10, "sl:500_replies": 6,
    }  # fmt: skip
    assert rpc_answers(stats) == {"5xx": 6, "2xx": 34}
    assert (reply_class_total(stats, "2xx"), reply_class_total(stats, "5xx")) == (2, 0)
    assert check_error_rate(stats).reason.startswith("0.0% errors (0 of 20")
    # no method counters (not Kamailio's core): nothing is taken off
    assert rpc_answers({"core:rcv_requests": 60, "sl:500_replies": 6}) == {}
    # more 500s than HTTP requests: the rest are SIP errors
    many = {**stats, "sl:500_replies": 50}
    assert (rpc_answers(many)["5xx"], reply_class_total(many, "5xx")) == (40, 10)


class _Rpc:
    """Answers as a Kamailio whose stats.get_statistics sl: counters lag."""

    def __init__(self, sl_stats):
        self.sl_stats = sl_stats

    def call(self, method, *params):
        if method == "stats.get_statistics":
            return ["core:rcv_requests = 25", "sl:401_replies = 0", "sl:200_replies = 3"]
        if method == "sl.stats" and self.sl_stats is not None:
            return self.sl_stats
        from kamtool.errors import RpcError

        raise RpcError(500, "Method Not Found")


def test_statistics_take_sl_counters_from_sl_stats():
    from kamtool.core.runtime.stats import numbers

    live = numbers(_Rpc({"200": 12, "401": 25, "xxx": 0}))
    assert (live["sl:401_replies"], live["sl:200_replies"]) == (25, 12)
    assert "sl:xxx_replies" not in live  # only counters the server listed
    stale = numbers(_Rpc(None))  # a server without sl.stats: its own values stand
    assert (stale["sl:401_replies"], stale["core:rcv_requests"]) == (0, 25)


def test_a_trusted_pattern_kamailio_cannot_compile_is_critical(tmp_path):
    """A row written behind kamtool's back (its CLI refuses such a pattern) with a pattern
    regcomp() refuses: Kamailio 5.6's worker dies at the next request from its address."""
    import sqlite3

    url = "sqlite:///" + str(tmp_path / "k.sqlite")
    invoke("--db", url, "trusted", "add", "10.0.0.1", "any", "^sip:ok@", "--no-reload")
    res = invoke("--db", url, "--json", "diagnose", "db")
    rule = next(c for c in res.json()["checks"] if c["rule"] == "trusted patterns")
    assert (res.exit_code, rule["level"]) == (0, OK), res.stdout
    with sqlite3.connect(tmp_path / "k.sqlite") as db:
        db.execute("INSERT INTO trusted (src_ip, proto, from_pattern, priority) "
                   "VALUES ('10.0.0.2', 'any', '^sip:\\(a', 0)")  # fmt: skip
    db.close()
    res = invoke("--db", url, "--json", "diagnose", "db")
    rule = next(c for c in res.json()["checks"] if c["rule"] == "trusted patterns")
    assert (res.exit_code, rule["level"]) == (2, CRITICAL)
    assert "10.0.0.2" in rule["reason"] and "Unmatched ( or \\(" in rule["reason"]
