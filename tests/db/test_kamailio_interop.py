"""A real Kamailio 5.6 runs on databases made by `kamtool dbctl create` and reads the rows
kamtool writes (the version checks of every module pass at start-up; usrloc loads the
location rows with the right times)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from kamtool.db.connect import connected
from tests.support.cli import invoke
from tests.support.databases import mysql_database
from tests.support.require import unavailable

pytestmark = pytest.mark.kamailio


@pytest.fixture(autouse=True)
def _needs_kamailio():
    from tests.support.kamailio import require_kamailio

    require_kamailio()


def _write_rows(url: str) -> int:
    """kamtool writes a registration, a subscriber and an htable entry; returns expires."""
    from kamtool.db.models import Htable, Location, Subscriber

    now = int(time.time())
    with connected(url, auto_create=False):
        Location.create(ruid="kt-1", username="1001", contact="sip:1001@127.0.0.1:5999",
                        expires=datetime.fromtimestamp(now + 1800),
                        last_modified=datetime.fromtimestamp(now), callid="kt-call",
                        cseq=7, user_agent="kamtool", q=0.5)  # fmt: skip
        Subscriber.create(username="1001", domain="127.0.0.1", password="secret1001")
        Htable.create(key_name="colour", value_type=0, key_value="blue")
    return now


def _db_errors(log: str) -> list[str]:
    """Error lines of the database layer (version checks, queries, type conversions)."""
    assert "kamailio" in log.lower() or "INFO" in log or "WARNING" in log, "empty log"
    words = ("db_sqlite", "db_mysql", "srdb", "version", "table", "sql", "usrloc", "convert")
    return [
        line
        for line in log.splitlines()
        if ("ERROR" in line or "CRITICAL" in line) and any(w in line.lower() for w in words)
    ]


def _check_kamailio_reads(k, now: int) -> None:
    dump = k.rpc("ul.lookup", "location", "1001")
    (c,) = dump["Contacts"]
    contact = c["Contact"]
    assert contact["Address"] == "sip:1001@127.0.0.1:5999"
    assert contact["Call-ID"] == "kt-call" and contact["CSeq"] == 7 and contact["Q"] == 0.5
    assert contact["Last-Modified"] == now
    assert 1800 - 60 <= contact["Expires"] <= 1800  # seconds left, not "expired"
    assert k.rpc("htable.get", "kv", "colour")["item"]["value"] == "blue"


def test_kamailio_runs_on_a_kamtool_sqlite_database(tmp_path):
    from tests.support.kamailio import Kamailio

    path = tmp_path / "kamtool.sqlite"
    url = "sqlite:///" + str(path)
    r = invoke("--db", url, "dbctl", "create")
    assert r.exit_code == 0, r.stderr
    now = _write_rows(url)
    with Kamailio(tmp_path, db=str(path), seed=False) as k:
        _check_kamailio_reads(k, now)
        assert _db_errors(k.log_text()) == []


@pytest.mark.mysql
def test_kamailio_runs_on_a_kamtool_mariadb_database(tmp_path):
    from tests.support.kamailio import Kamailio

    with mysql_database() as url:
        r = invoke("--db", url, "dbctl", "create")
        assert r.exit_code == 0, r.stderr
        now = _write_rows(url)
        with Kamailio(tmp_path, db=url, seed=False) as k:
            _check_kamailio_reads(k, now)
            assert _db_errors(k.log_text()) == []


@pytest.fixture(scope="module")
def kamctl_backup(tmp_path_factory):
    """A backup of the database kamctl seeded for a real Kamailio (text dates and all)."""
    from tests.support.kamailio import Kamailio, require_kamailio

    require_kamailio()
    tmp = tmp_path_factory.mktemp("kamctl")
    with Kamailio(tmp) as k:
        url = k.db_url
        from kamtool.core import dbctl

        dbctl.backup(url, tmp / "kamctl.jsonl")
    return url, tmp / "kamctl.jsonl"


def test_a_kamctl_database_restores_into_every_engine(kamctl_backup, db_url):
    from kamtool.db.models import Address, Dbaliases, Dispatcher, Domain, Subscriber

    source, backup = kamctl_backup
    r = invoke("--db", db_url, "--json", "dbctl", "restore", str(backup))
    assert r.exit_code == 0, r.stdout + r.stderr

    def rows(url):
        with connected(url, auto_create=False):
            return {
                m.__name__: [tuple(x) for x in m.select().order_by(m.id).tuples()]
                for m in (Subscriber, Domain, Address, Dispatcher, Dbaliases)
            }

    restored, original = rows(db_url), rows(source)
    assert restored == original
    assert restored["Subscriber"][0][1:4] == ("1001", "127.0.0.1", "secret1001")
    last_modified = restored["Domain"][0][3]  # kamctl wrote `date` output as text
    assert isinstance(last_modified, datetime) and last_modified.year >= 2024


@pytest.mark.mysql
def test_kamtool_manages_a_database_kamdbctl_made_on_mariadb(tmp_path):
    """The real `kamdbctl create` (latin1, its own users): kamtool sees it complete,
    backs it up and restores it into SQLite."""
    import os
    import shutil
    import subprocess
    import uuid

    from kamtool.db.connect import parse_url
    from kamtool.db.server import drop_database

    if not shutil.which("kamdbctl"):
        unavailable("kamdbctl is not installed (package kamailio)")
    with mysql_database() as admin_url:
        name = "kt_kdb_" + uuid.uuid4().hex[:8]
        rw, ro = "ktk_rw_" + name[-8:], "ktk_ro_" + name[-8:]
        env = dict(os.environ, DBENGINE="MYSQL", DBHOST="127.0.0.1", DBNAME=name,
                   DBROOTUSER="root", CHARSET="latin1", DBRWUSER=rw, DBRWPW="rwpw",
                   DBROUSER=ro, DBROPW="ropw", INSTALL_EXTRA_TABLES="yes",
                   INSTALL_PRESENCE_TABLES="yes", INSTALL_DBUID_TABLES="no")  # fmt: skip
        url = f"mysql://{rw}:rwpw@127.0.0.1:3306/{name}"
        try:
            made = subprocess.run(["kamdbctl", "create"], env=env, input="\n\n\n",
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
            assert made.returncode == 0, made.stdout + made.stderr
            shown = invoke("--db", url, "--json", "dbctl", "show").json()
            # all but the aliases version row Kamailio's usrloc refuses (schema/generate.py)
            assert [m["table"] for m in shown["mismatches"]] == ["aliases"]
            assert {t["status"] for t in shown["tables"] if t["table"] != "aliases"} == {"ok"}
            from kamtool.db.models import Subscriber

            with connected(url, auto_create=False):
                Subscriber.create(username="ü1001", domain="127.0.0.1", password="pw")
            backup = tmp_path / "kdb.jsonl"
            assert invoke("--db", url, "dbctl", "backup", str(backup)).exit_code == 0
            target = f"sqlite:///{tmp_path / 'from-kamdbctl.sqlite'}"
            assert invoke("--db", target, "dbctl", "restore", str(backup)).exit_code == 0
            with connected(target, auto_create=False):
                assert Subscriber.get().username == "ü1001"  # latin1 column, round trip
        finally:
            drop_database(parse_url(f"mysql://root@127.0.0.1:3306/{name}"))
            from kamtool.db.connect import open_database

            db = open_database(admin_url)
            for user in (rw, ro):
                for host in ("localhost", "127.0.0.1", "%"):
                    db.execute_sql("DROP USER IF EXISTS %s@%s", (user, host))
            db.close()


def test_kamailio_using_the_aliases_table_starts_on_kamtools_schema(tmp_path):
    """A cfg with lookup("aliases") (usrloc with a database): Kamailio 5.6 refuses the
    aliases version its own schema files write (8) and starts on what `dbctl create`
    makes and on a kamdbctl-made database after `dbctl migrate`."""
    from tests.support.kamailio import CONFIG, Kamailio, create_sqlite_with_kamailio_schema

    cfg = tmp_path / "kamailio-aliases.cfg"
    cfg.write_text(CONFIG.read_text() + '\nroute[ALIASES] {\n\tlookup("aliases");\n}\n')
    ours = tmp_path / "kamtool.sqlite"
    assert invoke("--db", f"sqlite:///{ours}", "dbctl", "create").exit_code == 0
    with Kamailio(tmp_path / "ours", db=str(ours), seed=False, config=cfg) as k:
        assert k.rpc("ul.dump", "brief")  # both tables registered
        assert _db_errors(k.log_text()) == []

    theirs = tmp_path / "kamdbctl.sqlite"
    create_sqlite_with_kamailio_schema(theirs)
    with pytest.raises(RuntimeError, match="invalid version 8 for table aliases"):
        Kamailio(tmp_path / "theirs", db=str(theirs), seed=False, config=cfg).start()
    r = invoke("--db", f"sqlite:///{theirs}", "--json", "dbctl", "migrate")
    assert r.exit_code == 0 and [e["table"] for e in r.json()["upgraded"]] == ["aliases"]
    with Kamailio(tmp_path / "migrated", db=str(theirs), seed=False, config=cfg) as k:
        assert _db_errors(k.log_text()) == []
