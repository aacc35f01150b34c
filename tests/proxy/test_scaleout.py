"""Scale-out: two kamtool proxies with usrloc db_mode 3 share PostgreSQL's location table;
a phone registered through proxy A is reached by a call sent to proxy B."""

from __future__ import annotations

import pytest

from kamtool.db import schema
from kamtool.db.connect import open_database
from kamtool.db.ddl import create_tables
from tests.proxy.conftest import USERS, need
from tests.proxy.harness import (
    RunningProxy,
    add_subscriber,
    call,
    explain,
    make_config,
    register,
    sipp_peer,
)
from tests.support.databases import database
from tests.support.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.sipp]


def test_register_on_a_call_through_b(tmp_path):
    need("sipp")
    with database("postgres", tmp_path) as url:
        db = open_database(url)
        create_tables(db, schema.GROUP_NAMES)
        db.close()
        for user in ("1001", "1002"):
            add_subscriber(url, user, USERS[user])
        a = RunningProxy(make_config(url, db_mode=3, rpc_listen=None)).start()
        b = RunningProxy(make_config(url, db_mode=3, rpc_listen=None)).start()
        try:
            uas_port = free_port()
            register(a.port, "1002", uas_port)
            assert b.call(lambda: [x.contact for x in b.server.usrloc.lookup("1002")]) == [
                f"sip:1002@127.0.0.1:{uas_port};transport=UDP"
            ]
            with sipp_peer("uas_answer.xml", b.port, uas_port):
                res = call(b.port)
                assert res.returncode == 0, explain(res)
            assert a.stat("core:rcv_requests_invite") == 0
            assert b.stat("core:rcv_requests_invite") == 2
        finally:
            a.stop()
            b.stop()
