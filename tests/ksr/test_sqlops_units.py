"""``KSR.sqlops`` inside kamtool: the ``[proxy] sqlcon`` setting, a connection to another
database than kamtool's own, and a failed statement that must not look like an outage
of kamtool's database to its worker (tests/ksr/test_sqlops.py compares with Kamailio)."""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from types import SimpleNamespace

import pytest

from kamtool.db.connect import open_database
from kamtool.errors import ConfigError
from kamtool.proxy.config import ProxyConfig
from kamtool.proxy.dbworker import DbWorker
from kamtool.proxy.ksr import context, ensure_installed
from kamtool.proxy.ksr.sqlops_db import parse_sqlcon, run


def test_sqlcon_setting_is_checked():
    ok = ProxyConfig(sqlcon=("ca=>", " ext => sqlite:////tmp/x.sqlite"))
    assert ok.sqlcon[1].strip().startswith("ext")
    with pytest.raises(ConfigError, match="expected name=>url"):
        ProxyConfig(sqlcon=("ca mysql://kam:s3cretpw@db/kamailio",))
    with pytest.raises(ConfigError) as info:
        ProxyConfig(sqlcon=("ca mysql://kam:s3cretpw@db/kamailio",))
    assert "s3cretpw" not in str(info.value) and "s3cretpw" not in repr(ok)
    with pytest.raises(ConfigError, match="declared twice"):
        ProxyConfig(sqlcon=("ca=>", "ca=>sqlite:////tmp/y.sqlite"))
    with pytest.raises(ConfigError, match="unsupported database URL scheme"):
        ProxyConfig(sqlcon=("ca=>oracle://h/db",))


def test_own_database_by_url_or_empty():
    own = "sqlite:////tmp/own.sqlite"
    assert parse_sqlcon("ca=>", own).own and parse_sqlcon("ca=>/tmp/own.sqlite", own).own
    other = parse_sqlcon("ca=>mysql://u:pw@h/db", own)
    assert not other.own and other.engine == "mysql"


def test_a_failed_statement_is_no_outage(tmp_path):
    """SQLite says "no such table" with OperationalError, the class of a lost connection:
    the worker must run the job to its end without counting an outage."""
    db = open_database(f"sqlite:///{tmp_path}/own.sqlite")
    worker = DbWorker(db, asyncio.new_event_loop())
    con = parse_sqlcon("ca=>", f"sqlite:///{tmp_path}/own.sqlite")
    out = worker.execute(partial(run, con, "SELECT * FROM no_such_table", db))
    assert out.error == "no such table: no_such_table"
    assert not worker.down and worker.outages == 0
    assert worker.execute(partial(run, con, "SELECT 1 AS one", db)).rows == [[1]]


def test_a_route_reads_another_database(tmp_path):
    ext = tmp_path / "ext.sqlite"
    conn = sqlite3.connect(ext)
    conn.execute("CREATE TABLE t (k TEXT, v INTEGER, r REAL)")
    conn.execute("INSERT INTO t VALUES ('a', 1, 0.5), ('b', NULL, 1.5)")
    conn.commit()
    conn.close()
    config = ProxyConfig(db_url=f"sqlite:///{tmp_path}/own.sqlite",
                         sqlcon=(f"ext=>sqlite:///{ext}",))  # fmt: skip
    ctx = SimpleNamespace(engine=SimpleNamespace(), parts=SimpleNamespace(config=config, db=None),
                          avps_=None, vars_=None)  # fmt: skip
    ctx.avps, ctx.vars = {}, {}
    ksr = ensure_installed()
    context.state.ctx = ctx
    try:
        assert ksr.sqlops.sql_query("ext", "SELECT k, v, r FROM t ORDER BY k", "r") == 0
        get = ksr.pv.get
        assert [get("$dbr(r=>rows)"), get("$dbr(r=>cols)")] == [2, 3]
        assert [get(f"$dbr(r=>[0,{i}])") for i in range(3)] == ["a", 1, None]
        assert get("$dbr(r=>[1,1])") is None and get("$dbr(r=>colname[2])") == "r"
        assert get("$dbr(r=>bogus)") is None
        assert ksr.sqlops.sql_query("ext", "UPDATE t SET v = 2", "r") == 0
        assert get("$dbr(r=>rows)") == 0
        assert ksr.sqlops.sql_query("ext", "SELECT nope FROM t", "r") == -1
        assert ksr.sqlops.sql_query("own", "SELECT 1", "r") == -1
    finally:
        context.state.ctx = context.NO_ROUTE
    conn = sqlite3.connect(ext)
    assert conn.execute("SELECT v FROM t ORDER BY k").fetchall() == [(2,), (2,)]
    conn.close()
