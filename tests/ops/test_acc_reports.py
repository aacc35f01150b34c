"""Accounting reports, missed calls and CDRs over acc rows written as Kamailio's acc module
writes them (with kamcli's db_extra columns), on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.support.cli import invoke

NOW = datetime.now().replace(microsecond=0)


def _acc(url: str, table: str, rows: list[tuple]) -> None:
    """INSERT rows as acc's db_extra would (method, tags, callid, code, reason, time,
    src_user, src_ip, dst_user, dst_ouser)."""
    from kamtool.db import models
    from kamtool.db.connect import connected

    cols = ("method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time",
            "src_user", "src_ip", "dst_user", "dst_ouser")  # fmt: skip
    with connected(url, auto_create=False) as db, db.atomic():
        field = models.MODELS[table].time
        for row in rows:
            values = list(row)
            values[6] = field.db_value(values[6])
            db.execute_sql(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                           f"({', '.join([db.param] * len(cols))})", values)  # fmt: skip


def _seed(url: str) -> None:
    t0 = NOW - timedelta(hours=2)
    old = NOW - timedelta(days=3)
    _acc(url, "acc", [
        ("INVITE", "fa", "ta", "call-a", "200", "OK", t0, "1001", "10.0.0.1", "2001", "2001"),
        ("BYE", "fa", "ta", "call-a", "200", "OK", t0 + timedelta(seconds=60),
         "1001", "10.0.0.1", "2001", "2001"),
        ("INVITE", "fb", "tb", "call-b", "200", "OK", t0, "1001", "10.0.0.1", "2002", "5002"),
        # the callee hangs up: its BYE has the tags the other way round
        ("BYE", "tb", "fb", "call-b", "200", "OK", t0 + timedelta(seconds=30),
         "2002", "10.0.0.9", "1001", "1001"),
        ("INVITE", "fc", "tc", "call-c", "404", "Not Found", t0,
         "1002", "10.0.0.2", "2001", "2001"),
        ("INVITE", "fd", "td", "call-d", "487", "Request Terminated", t0,
         "1003", "10.0.0.2", "2001", "2001"),
        ("INVITE", "fe", "te", "call-e", "200", "OK", t0, "1004", "10.0.0.4", "2003", "2003"),
        ("MESSAGE", "fm", "tm", "msg-1", "202", "Accepted", t0, "1001", "10.0.0.1", "2001", ""),
        ("INVITE", "fo", "to", "call-old", "200", "OK", old, "1009", "10.0.0.9", "2001", "2001"),
        ("BYE", "fo", "to", "call-old", "200", "OK", old + timedelta(seconds=5),
         "1009", "10.0.0.9", "2001", "2001"),
    ])  # fmt: skip
    _acc(url, "missed_calls", [
        ("INVITE", "fx", "tx", "call-x", "486", "Busy Here", t0, "1001", "10.0.0.1", "2001", ""),
        ("INVITE", "fy", "ty", "call-y", "408", "Request Timeout", old, "1002", "10.0.0.2",
         "2001", ""),
    ])  # fmt: skip


def kt(url: str, *args: str):
    return invoke("--db", url, "--json", "acc", *args)


def test_reports_need_the_extra_columns(std_url):
    res = kt(std_url, "report", "top-src")
    assert res.exit_code == 9
    assert "struct-update" in res.json()["error"]["hint"]
    res = kt(std_url, "struct-update")
    assert res.exit_code == 0, res.stdout
    assert "acc.src_user" in res.json()["added"] and "acc_cdrs.callid" in res.json()["added"]
    assert kt(std_url, "struct-update").json()["added"] == []


@pytest.fixture
def acc_url(std_url):
    assert kt(std_url, "struct-update").exit_code == 0
    _seed(std_url)
    return std_url


def test_top_reports_over_a_time_range(acc_url):
    rows = kt(acc_url, "report", "top-src").json()
    assert rows[0] == {"src_user": "1001", "calls": 2}
    assert {r["src_user"] for r in rows} == {"1001", "1002", "1003", "1004"}  # not 1009 (old)
    rows = kt(acc_url, "report", "top-src", "--since", "7d").json()
    assert {r["src_user"] for r in rows} >= {"1009"}
    assert kt(acc_url, "report", "top-dst", "-n", "1").json() == [{"dst_user": "2001", "calls": 3}]
    assert kt(acc_url, "report", "top-odst").json()[0]["dst_ouser"] == "2001"
    srcip = kt(acc_url, "report", "top-srcip").json()
    assert srcip[:2] == [{"src_ip": "10.0.0.1", "calls": 2}, {"src_ip": "10.0.0.2", "calls": 2}]
    since = (NOW - timedelta(days=4)).date().isoformat()
    until = (NOW - timedelta(days=1)).date().isoformat()
    rows = kt(acc_url, "report", "top-src", "--since", since, "--until", until).json()
    assert rows == [{"src_user": "1009", "calls": 1}]
    assert kt(acc_url, "report", "top-nothing").exit_code == 2
    assert kt(acc_url, "report", "top-src", "--since", "soon").exit_code == 2


def test_method_stats(acc_url):
    stats = kt(acc_url, "method-stats").json()
    assert {k: stats[k] for k in ("invite", "bye", "message", "other")} == {
        "invite": 5, "bye": 2, "message": 1, "other": 0}  # fmt: skip
    assert (stats["invite200"], stats["invite404"], stats["invite487"], stats["inviteXYZ"]) == (
        3, 1, 1, 0)  # fmt: skip
    plain = invoke("--db", acc_url, "acc", "method-stats")
    assert "invite200" in plain.stdout


def test_missed_calls(acc_url):
    rows = kt(acc_url, "missed").json()
    assert [(r["callid"], r["sip_code"], r["src_user"]) for r in rows] == [
        ("call-x", "486", "1001")]  # fmt: skip
    assert len(kt(acc_url, "missed", "--since", "7d").json()) == 2


def test_cdrs_from_acc_rows_once(acc_url):
    res = kt(acc_url, "cdrs", "--generate")
    assert res.exit_code == 0, res.stdout
    rows = res.json()
    got = sorted((r["callid"], r["duration"], r["src_user"], r["dst_user"]) for r in rows)
    # call-e has no BYE (still up or not accounted): no CDR
    assert got == [("call-a", 60.0, "1001", "2001"), ("call-b", 30.0, "1001", "2002")]
    assert all(r["end_time"] > r["start_time"] for r in rows)
    again = kt(acc_url, "cdrs", "--generate", "--since", "7d").json()
    assert sorted(r["callid"] for r in again) == ["call-a", "call-b", "call-old"]
    assert len(kt(acc_url, "cdrs", "--since", "7d").json()) == 3  # nothing made twice
