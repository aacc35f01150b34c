"""An operator's kamctlrc or kamcli.ini alone drives kamtool against a real Kamailio 5.6.

Kamailio runs on MariaDB with its FIFO and datagram socket in a private runtime
directory (not /run/kamailio: no default would find them). kamtool gets nothing but the
kamctlrc (CTLENGINE=RPCFIFO, RPCFIFOPATH, DB* with a read-write user that has a password)
or a kamcli.ini (``[db] rwurl`` with kamcli's interpolation, ``[jsonrpc]`` over the unix
datagram socket).
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.cli import invoke
from tests.support.databases import MYSQL_ADMIN, mysql_database
from tests.support.kamailio import Kamailio, require_kamailio

pytestmark = [pytest.mark.kamailio, pytest.mark.mysql]

DEST = "sip:127.0.0.1:5062"
CONTACT = "sip:1001@127.0.0.1:5999"


@pytest.fixture
def kamailio_mariadb(tmp_path):
    """(Kamailio, database name, rw user, rw password) on a fresh MariaDB database."""
    import pymysql

    require_kamailio()
    with mysql_database() as url:
        name = url.rsplit("/", 1)[1]
        assert invoke("--db", url, "dbctl", "create").exit_code == 0
        r = invoke("--db", url, "dispatcher", "add", "1", DEST, "--no-reload")
        assert r.exit_code == 0, r.stderr
        user, password = "ktrw_" + uuid.uuid4().hex[:8], "pw:s3cret-x"
        conn = pymysql.connect(**MYSQL_ADMIN, autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
                cur.execute(f"GRANT ALL ON `{name}`.* TO %s@'127.0.0.1'", (user,))
            with Kamailio(tmp_path, db=url, seed=False) as k:
                yield k, name, user, password
        finally:
            with conn.cursor() as cur:
                cur.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))
            conn.close()


def _runtime_commands_work(*flags: str) -> None:
    r = invoke(*flags, "ul", "add", "1001", CONTACT)
    assert r.exit_code == 0, r.stderr
    r = invoke(*flags, "--json", "ul", "show")
    assert r.exit_code == 0, r.stderr
    assert CONTACT in r.stdout
    r = invoke(*flags, "--json", "dispatcher", "list")
    assert r.exit_code == 0, r.stderr
    assert DEST in r.stdout
    r = invoke(*flags, "stats")  # every statistic, as the operator types it
    assert r.exit_code == 0, r.stderr
    assert "registered_users" in r.stdout and "rcv_requests" in r.stdout
    r = invoke(*flags, "ul", "rm", "1001")
    assert r.exit_code == 0, r.stderr


def test_a_kamctlrc_alone(kamailio_mariadb, tmp_path):
    k, name, user, password = kamailio_mariadb
    rc = tmp_path / "kamctlrc"
    rc.write_text(
        "SIP_DOMAIN=127.0.0.1\nDBENGINE=MYSQL\nDBHOST=127.0.0.1\nDBPORT=3306\n"
        f'DBNAME={name}\nDBRWUSER={user}\nDBRWPW="{password}"\n'
        f'CTLENGINE=RPCFIFO\nRPCFIFOPATH="{k.fifo_path}"\n'
    )
    flags = ("--kamctlrc", str(rc))
    _runtime_commands_work(*flags)
    # the database settings too: a subscriber written through the kamctlrc's user
    assert invoke(*flags, "add", "1001", "pw").exit_code == 0
    assert [u["username"] for u in invoke(*flags, "--json", "show").json()] == ["1001"]

    rows = {r["setting"]: r for r in invoke(*flags, "--json", "config", "show").json()["settings"]}
    assert rows["rpc_url"]["value"] == f"fifo:{k.fifo_path}"
    assert rows["rpc_url"]["source"] == f"kamctlrc: {rc}"
    assert rows["db_url"]["value"] == f"mysql://{user}:***@127.0.0.1:3306/{name}"
    assert rows["db_url"]["source"] == f"kamctlrc: {rc}"


def test_a_kamcli_ini_alone_over_the_datagram_socket(kamailio_mariadb, tmp_path, monkeypatch):
    k, name, user, password = kamailio_mariadb
    (tmp_path / "cwd").mkdir()
    ini = tmp_path / "cwd" / "kamcli.ini"
    ini.write_text(
        "[main]\ndomain=127.0.0.1\n"
        f"[db]\ntype=mysql\ndriver=pymysql\nhost=127.0.0.1\ndbport=3306\ndbname={name}\n"
        f"rwuser={user}\nrwpassword={password}\n"
        "rwurl=%(type)s+%(driver)s://%(rwuser)s:%(rwpassword)s@%(host)s:%(dbport)s/%(dbname)s\n"
        f"[jsonrpc]\ntransport=socket\nsrvaddr={k.dgram_path}\n"
    )
    _runtime_commands_work("--kamcli-ini", str(ini))
    monkeypatch.chdir(ini.parent)  # kamcli's ./kamcli.ini, found without a flag
    _runtime_commands_work()
    assert invoke("add", "1002", "pw").exit_code == 0
    rows = {r["setting"]: r for r in invoke("--json", "config", "show").json()["settings"]}
    assert rows["rpc_url"]["value"] == f"unix:{k.dgram_path}"
    assert rows["rpc_url"]["source"] == f"kamcli.ini: {ini}"
    assert rows["sip_domain"]["source"] == f"kamcli.ini: {ini}"
