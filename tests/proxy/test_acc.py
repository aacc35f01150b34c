"""Accounting (acc, missed_calls) and alias_db_lookup: kamtool's proxy against a real
Kamailio 5.6 running the reference cfg, with the same SIPp calls through each."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest

from kamtool.db.fields import julian_to_unix
from tests.proxy.conftest import need
from tests.proxy.harness import call, explain, register, sipp_peer, wait_for
from tests.support.cli import invoke
from tests.support.ports import free_port

pytestmark = [pytest.mark.sipp]

COLUMNS = ("method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time")


def place_calls(port: int) -> None:
    """1001 calls 1002 through the proxy on ``port``: answered and hung up by the caller,
    then by the callee, busy (486), cancelled while ringing, answered with a refused BYE
    (481), a call to an unregistered
    user (404) and one to a registered user who never answers (408 after fr_timer)."""
    uas = free_port()
    register(port, "1002", uas)
    for callee_side, caller_side in (
        ("uas_answer.xml", "uac_call.xml"),
        ("uas_hangup.xml", "uac_wait_bye.xml"),
        ("uas_busy.xml", "uac_busy.xml"),
        ("uas_ring.xml", "uac_cancel.xml"),
        ("uas_bye_fail.xml", "uac_bye_fail.xml"),
    ):
        with sipp_peer(callee_side, port, uas):
            res = call(port, caller_side)
            assert res.returncode == 0, explain(res)
    res = call(port, "uac_timeout.xml", callee="1003")  # not registered: 404, no CDR
    assert res.returncode != 0 and "404" in res.stdout + res.stderr, explain(res)
    register(port, "1002", free_port())  # nobody listens there
    res = call(port, "uac_timeout.xml")
    assert res.returncode == 0, explain(res)


def read_cdrs(db_file: Path, table: str) -> list[dict]:
    conn = sqlite3.connect(db_file)
    try:
        cur = conn.execute(f"SELECT {', '.join(COLUMNS)}, typeof(time) FROM {table} ORDER BY id")
        return [dict(zip((*COLUMNS, "time_type"), row, strict=True)) for row in cur]
    finally:
        conn.close()


def comparable(rows: list[dict]) -> list[tuple]:
    """The columns that must be equal between Kamailio and kamtool (not time, callid, tags)."""
    return [(r["method"], r["sip_code"], r["sip_reason"], r["time_type"]) for r in rows]


def check_shape(rows: list[dict], started: float) -> None:
    """Tags and Call-IDs as SIPp made them; time a Julian day of this run."""
    for r in rows:
        assert "SIPpTag" in r["from_tag"] and r["callid"].endswith("@127.0.0.1"), r
        assert r["to_tag"], r  # the callee's tag, or the proxy's own on its 408
        assert started - 1 <= julian_to_unix(r["time"]) <= time.time() + 1, r
    # the BYE of a call belongs to the INVITE before it: same Call-ID and tags (From and
    # To as in the BYE: detect_direction 0)
    for invite, bye in zip(rows, rows[1:], strict=False):
        if invite["method"] == "INVITE" and bye["method"] == "BYE":
            tags = (invite["from_tag"], invite["to_tag"])
            assert bye["callid"] == invite["callid"], (invite, bye)
            assert (bye["from_tag"], bye["to_tag"]) in (tags, tags[::-1]), (invite, bye)


def db_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


@pytest.fixture
def kamailio_cls():
    from tests.support.kamailio import Kamailio, require_kamailio

    require_kamailio()
    need("sipp")
    return Kamailio


@pytest.mark.kamailio
def test_cdrs_are_the_rows_kamailio_writes_for_the_same_calls(
    tmp_path, kamailio_cls, proxy_db, start_proxy
):
    started = time.time()
    with kamailio_cls(tmp_path) as k:
        place_calls(k.sip_port)
        kam_db = k.db_file
        # acc writes from the SIP worker that sent the final reply: wait for the last one
        assert wait_for(lambda: len(read_cdrs(kam_db, "missed_calls")) == 3)
    proxy = start_proxy()
    place_calls(proxy.port)
    proxy.stop()  # writes what is queued
    ours = {t: read_cdrs(db_file(proxy_db), t) for t in ("acc", "missed_calls")}
    theirs = {t: read_cdrs(kam_db, t) for t in ("acc", "missed_calls")}
    for table in ("acc", "missed_calls"):
        assert comparable(ours[table]) == comparable(theirs[table]), table
        check_shape(ours[table], started)
        check_shape(theirs[table], started)
    for rows in (ours["acc"], theirs["acc"]):
        assert rows[1]["from_tag"] == rows[0]["from_tag"]  # the caller hung up
        assert rows[3]["from_tag"] == rows[2]["to_tag"]  # the callee hung up
    # what Kamailio wrote (so a change on both sides cannot go unnoticed)
    assert comparable(theirs["acc"]) == [
        ("INVITE", "200", "OK", "real"),
        ("BYE", "200", "OK", "real"),
        ("INVITE", "200", "OK", "real"),
        ("BYE", "200", "OK", "real"),
        ("INVITE", "200", "OK", "real"),
        ("BYE", "481", "Call/Transaction Does Not Exist", "real"),
    ]
    assert comparable(theirs["missed_calls"]) == [
        ("INVITE", "486", "Busy Here", "real"),
        ("INVITE", "487", "Request Terminated", "real"),
        ("INVITE", "408", "Request Timeout", "real"),
    ]


def test_cdrs_survive_a_database_that_went_away(proxy_db, start_proxy):
    """The acc table gone (as a database that went away): the calls go on, the CDRs wait
    and are written once the table is back."""
    need("sipp")
    proxy = start_proxy()
    proxy.server.acc.retry = 0.2
    path = db_file(proxy_db)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE acc RENAME TO acc_away")
    conn.commit()
    uas = free_port()
    register(proxy.port, "1002", uas)
    with sipp_peer("uas_answer.xml", proxy.port, uas):
        res = call(proxy.port)
        assert res.returncode == 0, explain(res)
    with sipp_peer("uas_answer.xml", proxy.port, uas):  # the proxy still routes calls
        res = call(proxy.port)
        assert res.returncode == 0, explain(res)
    assert conn.execute("SELECT count(*) FROM acc_away").fetchone() == (0,)
    conn.execute("ALTER TABLE acc_away RENAME TO acc")
    conn.commit()
    assert wait_for(lambda: len(read_cdrs(path, "acc")) == 4)
    assert [r["method"] for r in read_cdrs(path, "acc")] == ["INVITE", "BYE", "INVITE", "BYE"]
    conn.close()
    # the CLI reads them back: the newest N, oldest first
    res = invoke("--db", proxy_db, "--json", "acc", "show", "--limit", "3")
    assert res.exit_code == 0, res.stderr
    rows = res.json()
    assert [(r["id"], r["method"], r["sip_code"]) for r in rows] == [
        (2, "BYE", "200"), (3, "INVITE", "200"), (4, "BYE", "200"),
    ]  # fmt: skip
    assert abs(datetime.fromisoformat(rows[0]["time"]).timestamp() - time.time()) < 60
    table = invoke("--db", proxy_db, "acc", "show")
    assert table.exit_code == 0 and table.stdout.count("INVITE") == 2, table.stdout
    assert "no missed calls" in invoke("--db", proxy_db, "acc", "show", "--missed").stderr
    bad = invoke("--db", proxy_db, "acc", "show", "-n", "0")
    assert bad.exit_code == 2 and "--limit" in bad.stderr


def alias_call(port: int, db_url: str) -> None:
    """`kamtool alias add 5555 1002`, 1002 registered, 1001 calls 5555: 1002 answers. Then
    an alias in another domain, 5556@elsewhere.example: with alias_db's use_domain 0 the
    domain is not compared, so 5556@127.0.0.1 rings 1002 too."""
    for alias in ("5555", "5556@elsewhere.example"):
        res = invoke("--db", db_url, "--domain", "127.0.0.1", "alias", "add", alias, "1002")
        assert res.exit_code == 0, res.stdout + res.stderr
    uas = free_port()
    register(port, "1002", uas)
    for callee in ("5555", "5556"):
        with sipp_peer("uas_answer.xml", port, uas):
            res = call(port, callee=callee)
            assert res.returncode == 0, explain(res)


@pytest.mark.kamailio
def test_alias_rings_its_user_as_in_kamailio(tmp_path, kamailio_cls, proxy_db, start_proxy):
    with kamailio_cls(tmp_path) as k:
        alias_call(k.sip_port, k.db_url)
        assert wait_for(lambda: len(read_cdrs(k.db_file, "acc")) == 4)
        theirs = read_cdrs(k.db_file, "acc")
    proxy = start_proxy()
    alias_call(proxy.port, proxy_db)
    proxy.stop()
    ours = read_cdrs(db_file(proxy_db), "acc")
    expected = [("INVITE", "200", "OK", "real"), ("BYE", "200", "OK", "real")] * 2
    assert comparable(ours) == comparable(theirs) == expected


def test_unknown_alias_is_not_found(proxy):
    need("sipp")
    register(proxy.port, "1002", free_port())
    res = call(proxy.port, "uac_timeout.xml", callee="5556")
    assert res.returncode != 0 and "404" in res.stdout + res.stderr, explain(res)


INVITE = (
    "INVITE sip:1002@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-acc-1\r\n"
    "From: <sip:1001@127.0.0.1>;tag=caller-1\r\n"
    "To: <sip:1002@127.0.0.1>\r\n"
    "Call-ID: engines-1@127.0.0.1\r\n"
    "CSeq: 2 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)
BUSY = (
    "SIP/2.0 486 Busy Here\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-acc-1\r\n"
    "From: <sip:1001@127.0.0.1>;tag=caller-1\r\n"
    "To: <sip:1002@127.0.0.1>;tag=callee-1\r\n"
    "Call-ID: engines-1@127.0.0.1\r\n"
    "CSeq: 2 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)


def _kill_connections(engine: str, url: str) -> None:
    """End every server connection to the database of ``url`` (the server side of a
    database that went away), leaving the writer thread with a dead connection."""
    name = url.rsplit("/", 1)[1]
    if engine == "mysql":
        import pymysql

        from tests.support.databases import MYSQL_ADMIN

        conn = pymysql.connect(**MYSQL_ADMIN, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (name,))
            for (ident,) in cur.fetchall():
                cur.execute(f"KILL {int(ident)}")
    else:
        import psycopg2

        from tests.support.databases import PG_ADMIN

        conn = psycopg2.connect(**PG_ADMIN)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
    conn.close()


def _acc_database(url: str):
    """The database at ``url``, opened, with the acc tables (and version) created."""
    from kamtool.db import schema
    from kamtool.db.connect import open_database
    from kamtool.db.ddl import create_tables

    db = open_database(url)
    tables = schema.tables()
    create_tables(db, tables=[tables[n] for n in ("version", "acc", "missed_calls")])
    return db


@pytest.mark.parametrize("engine", ["mysql", "postgres"])
def test_cdrs_on_every_engine_and_after_the_connection_dies(engine, tmp_path, caplog):
    """The writer thread on MariaDB/PostgreSQL: rows as on SQLite (time in local
    DATETIME), and a killed connection is replaced without losing the CDR."""
    from kamtool.proxy.acc import ACC_MISSED, Accounting
    from kamtool.sip.parser import parse_message
    from tests.support.databases import database

    request, response = parse_message(INVITE.encode()), parse_message(BUSY.encode())
    with database(engine, tmp_path) as url:
        db = _acc_database(url)
        acc = Accounting(db, retry=0.2)
        acc.start()
        try:
            acc.on_reply(ACC_MISSED, request, response)
            assert wait_for(lambda: acc.written == 1)
            _kill_connections(engine, url)
            acc.on_reply(ACC_MISSED, request, response)
            assert wait_for(lambda: acc.written == 2)
            assert "acc: cannot write CDRs" in caplog.text  # the dead connection was seen
        finally:
            acc.close()
        db.close()
        res = invoke("--db", url, "--json", "acc", "show", "--missed")
        assert res.exit_code == 0, res.stderr
        rows = res.json()
        assert [(r["method"], r["sip_code"], r["sip_reason"], r["from_tag"], r["to_tag"],
                 r["callid"]) for r in rows] == [
            ("INVITE", "486", "Busy Here", "caller-1", "callee-1", "engines-1@127.0.0.1")
        ] * 2  # fmt: skip
        assert abs(datetime.fromisoformat(rows[0]["time"]).timestamp() - time.time()) < 60


def test_shutdown_with_the_database_away_gives_up_in_time_and_says_so(tmp_path, caplog):
    from kamtool.db.connect import open_database
    from kamtool.proxy.acc import ACC, Accounting
    from kamtool.sip.parser import parse_message

    db = open_database("sqlite:///" + str(tmp_path / "empty.sqlite"))  # no acc table
    acc = Accounting(db, retry=0.1)
    acc.start()
    ok = parse_message(BUSY.replace("486 Busy Here", "200 OK").encode())
    acc.on_reply(ACC, parse_message(INVITE.encode()), ok)
    acc.close(timeout=0.5)
    assert acc.written == 0
    assert "acc: 1 CDRs not written at shutdown" in caplog.text
    assert acc.dropped == 1  # but in the log, for the operator to bill it
    assert "not written to acc: ACC: transaction answered: timestamp=" in caplog.text
    assert "method=INVITE;from_tag=caller-1;to_tag=callee-1;call_id=engines-1@" in caplog.text


@pytest.mark.parametrize("engine", ["sqlite", "mysql", "postgres"])
def test_a_cdr_with_bytes_no_column_takes_is_written_and_holds_back_nothing(engine, tmp_path):
    """Anybody can send a Call-ID with bytes that are not UTF-8 or longer than the column:
    the row was refused and retried forever, ahead of every CDR after it (found by a fuzz
    audit). Now such values are escaped and cut to the column."""
    from kamtool.proxy.acc import ACC_MISSED, Accounting
    from kamtool.sip.parser import parse_message
    from tests.support.databases import database

    poison = INVITE.replace("engines-1@", "poison-\xff\xfe-" + "x" * 300 + "@")
    request = parse_message(poison.encode("latin-1"))
    busy = parse_message(BUSY.encode())
    odd_busy = parse_message(BUSY.replace("Busy Here", "Busy \xe9").encode("latin-1"))
    with database(engine, tmp_path) as url:
        db = _acc_database(url)
        acc = Accounting(db, retry=0.2)
        acc.start()
        try:
            acc.on_reply(ACC_MISSED, request, odd_busy)
            acc.on_reply(ACC_MISSED, parse_message(INVITE.encode()), busy)
            assert wait_for(lambda: acc.written == 2), (acc.written, acc.dropped)
        finally:
            acc.close()
        db.close()
        res = invoke("--db", url, "--json", "acc", "show", "--missed")
        rows = sorted(res.json(), key=lambda r: r["callid"])
        assert [r["callid"] for r in rows][0] == "engines-1@127.0.0.1"
        assert rows[1]["callid"].startswith("poison-\\xff\\xfe-xxx")
        assert len(rows[1]["callid"]) == 255
        assert rows[1]["sip_reason"] == "Busy \\xe9"


def test_a_row_the_database_refuses_is_dropped_alone(tmp_path, caplog):
    """A refusal that is about the row (not the connection) costs that row, logged for
    billing, and the others are written."""
    from kamtool.proxy.acc import ACC_MISSED, Accounting
    from kamtool.sip.parser import parse_message

    class Refusing(Accounting):
        def write(self, cdrs):
            if any(c.from_tag == "refused" for c in cdrs):
                raise ValueError("value out of range")
            super().write(cdrs)

    db = _acc_database("sqlite:///" + str(tmp_path / "acc.sqlite"))
    acc = Refusing(db, retry=0.2)
    busy = parse_message(BUSY.encode())
    for tag in ("before", "refused", "after"):
        request = parse_message(INVITE.replace("caller-1", tag).encode())
        acc.on_reply(ACC_MISSED, request, busy)
    acc.start()
    try:
        assert wait_for(lambda: acc.written == 2 and acc.dropped == 1), (acc.written, acc.dropped)
    finally:
        acc.close()
    assert "acc: the database refused a CDR (value out of range)" in caplog.text
    assert "from_tag=refused" in caplog.text
